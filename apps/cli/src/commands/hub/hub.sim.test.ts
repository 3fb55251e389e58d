import { join } from "node:path";
import { type SimConfigOnDisk, type Simulator, startSimulator } from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

// `skittle hub send`, `skittle hub twin` and `skittle hub renew` against a real simulator, with a device
// provisioned there through `skittle provision --csr`.
describe("skittle hub against skittle-sim", () => {
  const deviceId = "hub-cli-sim-01";
  let dir: TempDir;
  let sim: Simulator<SimConfigOnDisk>;
  let device: string[];

  beforeAll(async () => {
    dir = await tempDir("skittle-hub-sim-");
    sim = await startSimulator({ dataDir: join(dir.path, "sim") });
    const outDir = join(dir.path, "device");
    const run = await runCli([
      "provision",
      "--sim",
      sim.configFile,
      "--registration-id",
      deviceId,
      "--csr",
      "--csr-key-type",
      "ec-p256",
      "--out-dir",
      outDir,
      "--json",
    ]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      assignedHub: string;
      files: { privateKey: string; chain: string };
    };
    device = [
      "--cert",
      result.files.chain,
      "--key",
      result.files.privateKey,
      "--hub",
      result.assignedHub,
      "--ca",
      sim.config.trustedCaFile,
    ];
  });

  afterAll(async () => {
    await sim?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  async function admin<T>(path: string): Promise<T> {
    const response = await fetch(`${sim.config.http.url}${path}`, { signal: AbortSignal.timeout(15_000) });
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  }

  it("sends a message with properties that the hub stores", async () => {
    const run = await runCli([
      "hub",
      "send",
      '{"colour":"red"}',
      ...device,
      "--property",
      "colorAlert=detected",
      "--content-type",
      "application/json",
      "--message-id",
      "m-1",
      "--json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      deviceId,
      sent: true,
      properties: { colorAlert: "detected" },
    });
    const stored = await admin<
      { body: string; properties: Record<string, string>; systemProperties: Record<string, string> }[]
    >(`/admin/telemetry?device=${deviceId}`);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      body: '{"colour":"red"}',
      properties: { colorAlert: "detected" },
      systemProperties: { messageId: "m-1", contentType: "application/json" },
    });
  });

  it("reports twin properties (nested, typed) and prints the twin", async () => {
    const run = await runCli([
      "hub",
      "twin",
      ...device,
      "--report",
      "firmware.version=1.4.0",
      "--report",
      "ready=true",
      "--json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout) as { reportedVersion: number; twin: { reported: unknown } };
    expect(printed.reportedVersion).toBeGreaterThan(0);
    expect(printed.twin.reported).toMatchObject({ firmware: { version: "1.4.0" }, ready: true });
    const stored = await admin<{ properties: { reported: unknown } }>(`/admin/devices/${deviceId}/twin`);
    expect(stored.properties.reported).toMatchObject({ firmware: { version: "1.4.0" }, ready: true });

    const human = await runCli(["hub", "twin", ...device]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^desired: {2}\{.*\}\nreported: \{.*"ready":true/m);
  });

  it("renews through the hub; the device then connects with the new certificate", async () => {
    const outDir = join(dir.path, "renewed");
    const run = await runCli(["hub", "renew", ...device, "--out-dir", outDir, "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const renewed = JSON.parse(run.stdout) as {
      requestId: string;
      certificate: { subject: string; serialNumber: string };
      files: { privateKey: string; chain: string };
    };
    expect(renewed.certificate.subject).toBe(`CN=${deviceId}`);
    const renewals = await admin<{ requestId: string; state: string; serialNumber: string }[]>(
      `/admin/renewals?device=${deviceId}`,
    );
    expect(renewals[0]).toMatchObject({
      requestId: renewed.requestId,
      state: "issued",
      serialNumber: renewed.certificate.serialNumber,
    });

    const withNewCertificate = ["--cert", renewed.files.chain, "--key", renewed.files.privateKey];
    const send = await runCli(["hub", "send", "renewed", ...device, ...withNewCertificate, "--json"]);
    expect(send.stderr).toBe("");
    expect(send.code).toBe(0);
    const stored = await admin<{ body: string }[]>(`/admin/telemetry?device=${deviceId}`);
    expect(stored.map((message) => message.body)).toContain("renewed");
  });

  it("says what is wrong when --device-id does not match the certificate", async () => {
    const run = await runCli(["hub", "send", "x", ...device, "--device-id", "someone-else"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[HUB_INVALID_OPTIONS\]: .*CN is "hub-cli-sim-01".*"someone-else"/m);
  });
});
