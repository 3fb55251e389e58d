import { EventEmitter } from "node:events";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deriveDeviceKey } from "@skittlesorter/attestation";
import { MemoryHub } from "@skittlesorter/hub-client/testing";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import {
  createTestPki,
  type ScriptedDps,
  standardDps,
  startScriptedDps,
  type TestPki,
} from "@skittlesorter/test-utils/scripted-dps";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunSummary } from "./app.ts";
import { type CliIo, EXIT_CONFIG, EXIT_OK, main } from "./cli.ts";
import { waitFor } from "./fakes.test-support.ts";

const groupKey = Buffer.alloc(64, 5).toString("base64");
const registrationId = "sorter-cli-01";
let pki: TestPki;
let dps: ScriptedDps;
let dir: TempDir;

beforeAll(async () => {
  pki = await createTestPki();
  dps = await startScriptedDps({
    pki,
    script: standardDps({ pki, assignOnRegister: true, hub: "sim-hub.localhost" }),
  });
  dir = await tempDir("sorter-cli-");
  await writeFile(join(dir.path, "root.pem"), pki.rootPem);
});

afterAll(async () => {
  await dps?.close();
  await pki?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

async function writeConfig(name: string, settings: Record<string, unknown>): Promise<string> {
  const path = join(dir.path, name);
  await writeFile(path, JSON.stringify(settings, null, 2));
  return path;
}

function sorterSettings(skittles: number, timeScale: number) {
  return {
    MockMode: { EnableMockColorSensor: true, EnableMockServos: true },
    ChutePositions: { Reject: 134 },
    EmulatedRig: { Skittles: skittles, Seed: 2, TimeScale: timeScale },
    IoTHub: {
      DeviceId: "{RegistrationId}",
      DpsProvisioning: {
        ProvisioningHost: `localhost:${dps.port}`,
        IdScope: "0ne00000A0A",
        RegistrationId: registrationId,
      },
    },
    Certificates: { TrustedCaFile: "root.pem" },
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function io(
  hub: MemoryHub,
  signals = new EventEmitter(),
): { io: Partial<CliIo>; out: { stdout: string; stderr: string } } {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      stdout: (text) => {
        out.stdout += text;
      },
      stderr: (text) => {
        out.stderr += text;
      },
      env: { SKITTLE__IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64: groupKey },
      signals: signals as unknown as CliIo["signals"],
      forceExit: () => {
        throw new Error("forced exit");
      },
      deps: { hubConnector: hub },
    },
  };
}

async function run(argv: string[], hub: MemoryHub): Promise<Run> {
  const { io: cliIo, out } = io(hub);
  const code = await main(argv, cliIo);
  return { code, ...out };
}

describe("skittle-sorter run (real DPS protocol over loopback TLS, in-memory hub)", () => {
  it("provisions once; a restart reuses the stored certificate (no second registration)", async () => {
    const config = await writeConfig("restart.json", sorterSettings(5, 0));
    const dataDir = join(dir.path, "restart-data");
    const hub = new MemoryHub();
    const first = await run(
      ["run", "--config", config, "--data-dir", dataDir, "--summary-json", join(dir.path, "s1.json")],
      hub,
    );
    expect(first.code).toBe(EXIT_OK);
    expect(dps.requests.filter((r) => r.kind === "register")).toHaveLength(1);
    const s1 = JSON.parse(await readFile(join(dir.path, "s1.json"), "utf8")) as RunSummary;
    expect(s1).toMatchObject({
      deviceId: registrationId,
      assignedHub: "sim-hub.localhost",
      credentialsSource: "provisioned",
    });
    expect(s1.rig?.accuracy).toBe(1);
    expect(s1.telemetry).toMatchObject({ queued: 5, delivered: 5, pending: 0 });
    expect(first.stdout).toContain("Skittle sorter summary");
    expect(first.stdout).toContain(`CN=${registrationId}`);
    const keyFile = join(dataDir, "certs", `${registrationId}.key.pem`);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);

    const second = await run(
      ["run", "--config", config, "--data-dir", dataDir, "--summary-json", join(dir.path, "s2.json")],
      hub,
    );
    expect(second.code).toBe(EXIT_OK);
    expect(dps.requests.filter((r) => r.kind === "register")).toHaveLength(1);
    const s2 = JSON.parse(await readFile(join(dir.path, "s2.json"), "utf8")) as RunSummary;
    expect(s2.credentialsSource).toBe("stored");
    expect(s2.certificate?.sha256Thumbprint).toBe(s1.certificate?.sha256Thumbprint);
    expect(second.stdout).toContain("stored certificate reused");
    expect(hub.messages.map((m) => JSON.parse(m.body).messageId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // No secret in anything printed: the group key, the derived device key, SAS signatures, private keys.
    const printed = first.stdout + first.stderr + second.stdout + second.stderr;
    expect(printed).not.toContain(groupKey);
    expect(printed).not.toContain(deriveDeviceKey(groupKey, registrationId));
    expect(printed).not.toMatch(/sig=|PRIVATE KEY|SharedAccessSignature/);
  });

  it("on SIGTERM finishes the skittle in hand, flushes the outbox and exits 0", async () => {
    const config = await writeConfig("sigterm.json", sorterSettings(500, 0.01));
    const hub = new MemoryHub();
    const signals = new EventEmitter();
    const { io: cliIo, out } = io(hub, signals);
    const summaryFile = join(dir.path, "sigterm-summary.json");
    const running = main(
      [
        "run",
        "--config",
        config,
        "--data-dir",
        join(dir.path, "sigterm-data"),
        "--summary-json",
        summaryFile,
      ],
      cliIo,
    );
    await waitFor(() => hub.messages.length >= 3, 30_000, "telemetry");
    signals.emit("SIGTERM");
    expect(await running).toBe(EXIT_OK);
    const summary = JSON.parse(await readFile(summaryFile, "utf8")) as RunSummary;
    expect(summary.stopReason).toBe("requested");
    expect(summary.sorting.sorted).toBeLessThan(500);
    expect(summary.rig?.accuracy).toBe(1);
    expect(summary.rig?.remaining).toBe(500 - summary.sorting.sorted);
    expect(summary.telemetry?.pending).toBe(0);
    expect(hub.messages).toHaveLength(summary.sorting.sorted);
    expect(signals.listenerCount("SIGTERM")).toBe(0);
    expect(out.stderr).toContain("finishing the skittle in hand");
  });

  it("exits 2 with every problem named, for bad configuration or usage", async () => {
    const hub = new MemoryHub();
    const bad = await writeConfig("bad.json", {
      IoTHub: { DpsProvisioning: { RegistrationId: "Bad Id", AttestationMethod: "X509" } },
      ServoPositions: { PickAngel: 150 },
    });
    const result = await run(["run", "--config", bad], hub);
    expect(result.code).toBe(EXIT_CONFIG);
    expect(result.stderr).toContain("IoTHub.DpsProvisioning.IdScope: is required.");
    expect(result.stderr).toContain("IoTHub.DpsProvisioning.AttestationCertPath");
    expect(result.stderr).toContain('did you mean "PickAngle"');
    expect(result.stderr).toMatch(/Fix: /);

    const missing = await run(["run", "--config", join(dir.path, "absent.json")], hub);
    expect(missing.code).toBe(EXIT_CONFIG);
    expect(missing.stderr).toMatch(/does not exist.*template/);

    const usage = await run(["run"], hub);
    expect(usage.code).toBe(EXIT_CONFIG);
    expect(usage.stderr).toContain("--config");

    const check = await run(
      ["check-config", "--config", await writeConfig("ok.json", sorterSettings(1, 0))],
      hub,
    );
    expect(check.code).toBe(EXIT_OK);
    expect(check.stdout).toContain('"groupKey": "(hidden)"');
    expect(check.stdout).not.toContain(groupKey);
  });
});
