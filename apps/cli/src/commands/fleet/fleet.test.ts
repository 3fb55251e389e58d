import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { FleetReport, Percentiles } from "@skittlesorter/fleet";
import { type SimConfigOnDisk, type Simulator, startSimulator } from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";
import { progressBar } from "./progress.ts";

const expectOrdered = (stats: Percentiles | null, count: number): void => {
  expect(stats).not.toBeNull();
  const { min, p50, p90, p99, max, mean } = stats as Percentiles;
  expect(stats?.count).toBe(count);
  expect(min).toBeGreaterThan(0);
  expect(min).toBeLessThanOrEqual(p50);
  expect(p50).toBeLessThanOrEqual(p90);
  expect(p90).toBeLessThanOrEqual(p99);
  expect(p99).toBeLessThanOrEqual(max);
  expect(mean).toBeGreaterThanOrEqual(min);
  expect(mean).toBeLessThanOrEqual(max);
};

interface TelemetryItem {
  deviceId: string;
  body: string;
  systemProperties: Record<string, string>;
}

// `skittle fleet` against an in-process simulator: real DPS over MQTT/TLS, CSR issuance, and the official
// IoT Hub device client sending QoS 1 telemetry to the assigned hub.
describe("skittle fleet --sim", () => {
  let dir: TempDir;
  let sim: Simulator<SimConfigOnDisk>;

  const admin = async <T>(path: string): Promise<T> => {
    const response = await fetch(new URL(path, sim.config.http.url));
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  };

  beforeAll(async () => {
    dir = await tempDir("skittle-fleet-");
    sim = await startSimulator({ dataDir: join(dir.path, "sim") });
  });

  afterAll(async () => {
    await sim?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("provisions 20 devices with CSRs, 5 at a time, sends 2 messages each, and the counts add up", async () => {
    const run = await runCli([
      "fleet",
      "--sim",
      sim.configFile,
      "--devices",
      "20",
      "--concurrency",
      "5",
      "--prefix",
      "csr-fleet-",
      "--csr",
      "--telemetry",
      "2",
      "--max-retry-after-ms",
      "50",
      "--json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as FleetReport;

    expect(report).toMatchObject({
      devices: 20,
      concurrency: 5,
      prefix: "csr-fleet-",
      csrKeyType: "ec-p384",
      telemetryPerDevice: 2,
      errors: [],
      retries: 0,
      target: { host: sim.config.dps.host, port: sim.config.dps.port, idScope: sim.config.idScope },
    });
    const { provisioning, telemetry } = report;
    expect(provisioning).toMatchObject({ succeeded: 20, failed: 0, skipped: 0, retries: 0 });
    expect(provisioning.succeeded + provisioning.failed + provisioning.skipped).toBe(report.devices);
    expect(provisioning.perSecond).toBeGreaterThan(0);
    expectOrdered(provisioning.latencyMs, 20);
    expectOrdered(provisioning.keyGenMs, 20);
    expectOrdered(provisioning.csrMs, 20);
    expect(Number.isNaN(Date.parse(report.startedAt))).toBe(false);
    expect(report.durationMs).toBeGreaterThanOrEqual(provisioning.durationMs);

    expect(telemetry).toMatchObject({
      devices: 20,
      connected: 20,
      connectFailed: 0,
      attempted: 40,
      acknowledged: 40,
      failed: 0,
      notSent: 0,
    });
    expect(telemetry?.perSecond).toBeGreaterThan(0);
    expectOrdered(telemetry?.connectMs ?? null, 20);
    expectOrdered(telemetry?.ackLatencyMs ?? null, 40);

    // The simulator saw exactly that: 20 certificates issued to the fleet's ids, 40 messages over X.509.
    const issued = await admin<{ registrationId: string }[]>("/admin/issued-certificates");
    const ids = new Set(issued.map((certificate) => certificate.registrationId));
    expect([...ids].filter((id) => id.startsWith("csr-fleet-")).sort()).toEqual(
      Array.from({ length: 20 }, (_, index) => `csr-fleet-${String(index).padStart(2, "0")}`),
    );
    const messages = (await admin<TelemetryItem[]>("/admin/telemetry?limit=1000")).filter((message) =>
      message.deviceId.startsWith("csr-fleet-"),
    );
    expect(messages).toHaveLength(40);
    // IoT Hub's iothub-connection-auth-method: a JSON object in a string.
    expect(
      new Set(
        messages.map((message) => JSON.parse(message.systemProperties.connectionAuthMethod ?? "").type),
      ),
    ).toEqual(new Set(["x509Certificate"]));
    expect(JSON.parse((messages[0] as TelemetryItem).body)).toMatchObject({ seq: expect.any(Number) });
  });

  it("uses SAS on the hub for devices provisioned without a CSR, and prints a human report", async () => {
    const run = await runCli([
      "fleet",
      "--sim",
      sim.configFile,
      "--devices",
      "3",
      "--concurrency",
      "3",
      "--prefix",
      "sas-fleet-",
      "--telemetry",
      "1",
      "--max-retry-after-ms",
      "0",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("3 devices (sas-fleet-…), concurrency 3, no CSR, 1 telemetry messages each");
    expect(run.stdout).toContain("provisioning: 3 ok, 0 failed, 0 skipped");
    expect(run.stdout).toContain("telemetry:    3 acknowledged, 0 failed, 0 not sent of 3");
    expect(run.stdout).toMatch(/latency\s+p50 [\d.]+ {2}p90 [\d.]+ {2}p99 [\d.]+ {2}max [\d.]+ ms/);
    expect(run.stdout).toContain("errors:       none");
    expect(run.stdout).not.toContain("key gen");

    const messages = (await admin<TelemetryItem[]>("/admin/telemetry?limit=1000")).filter((message) =>
      message.deviceId.startsWith("sas-fleet-"),
    );
    expect(messages.map((message) => message.deviceId).sort()).toEqual([
      "sas-fleet-0",
      "sas-fleet-1",
      "sas-fleet-2",
    ]);
    expect(
      new Set(
        messages.map((message) => JSON.parse(message.systemProperties.connectionAuthMethod ?? "").type),
      ),
    ).toEqual(new Set(["sas"]));
  });

  it("counts failures by code, still adds up to N, and exits 1", async () => {
    const wrongKey = randomBytes(32).toString("base64");
    const run = await runCli([
      "fleet",
      "--sim",
      sim.configFile,
      "--group-key",
      wrongKey,
      "--devices",
      "4",
      "--concurrency",
      "2",
      "--prefix",
      "bad-key-",
      "--telemetry",
      "3",
      "--json",
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error [FLEET_FAILURES]: 4 of 4 devices failed to provision");
    expect(run.stderr).not.toContain(wrongKey);
    const report = JSON.parse(run.stdout) as FleetReport;
    expect(report.provisioning).toMatchObject({ succeeded: 0, failed: 4, skipped: 0, latencyMs: null });
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatchObject({ stage: "provision", code: "DPS_UNAUTHORIZED", count: 4 });
    expect(report.errors.reduce((total, group) => total + group.count, 0)).toBe(report.provisioning.failed);
    expect(report.telemetry).toMatchObject({ devices: 0, attempted: 0, acknowledged: 0, ackLatencyMs: null });
  });

  it("refuses bad usage with exit code 2 and says how to fix it", async () => {
    const cases: [string[], string][] = [
      [
        ["fleet", "--devices", "3"],
        "pass --host H --id-scope S --group-key K, or --sim DIR (the data directory",
      ],
      [["fleet", "--host", "h.example", "--id-scope", "0ne00000A0A", "--devices", "3"], "pass --group-key K"],
      [["fleet", "--sim", sim.configFile], "pass --devices N"],
      [["fleet", "--sim", sim.configFile, "--devices", "0"], "--devices must be a whole number from 1"],
      [["fleet", "--sim", sim.configFile, "--devices", "2", "--concurrency", "x"], "--concurrency must be"],
      [["fleet", "--sim", sim.configFile, "--devices", "2", "--telemetry", "-1"], "--telemetry must be"],
      [
        ["fleet", "--sim", sim.configFile, "--devices", "2", "--csr-key-type", "ed25519"],
        "--csr-key-type must be one of",
      ],
      [
        ["fleet", "--sim", sim.configFile, "--devices", "2", "--prefix", "Bad Prefix!"],
        'the prefix "Bad Prefix!"',
      ],
      [
        ["fleet", "--sim", sim.configFile, "--devices", "2", "--timeout-seconds", "0"],
        "--timeout-seconds must be",
      ],
    ];
    for (const [argv, hint] of cases) {
      const run = await runCli(argv);
      expect({ argv, code: run.code }).toEqual({ argv, code: 2 });
      expect(run.stderr).toContain(hint);
      expect(run.stdout).toBe("");
    }
  });
});

describe("fleet progress bar", () => {
  it("redraws one line at most every interval, always at 100 %, and clears it when done", () => {
    let now = 0;
    const writes: string[] = [];
    const bar = progressBar((text) => writes.push(text), { width: 10, intervalMs: 100, now: () => now });
    bar.update({ phase: "provision", done: 1, total: 4, failed: 0 });
    now = 50;
    bar.update({ phase: "provision", done: 2, total: 4, failed: 1 }); // too soon: skipped
    now = 1000;
    bar.update({ phase: "provision", done: 4, total: 4, failed: 1 }); // complete: always drawn
    now = 1010;
    bar.update({ phase: "connect", done: 1, total: 2, failed: 0 }); // a new phase: drawn at once
    now = 1020;
    bar.update({ phase: "connect", done: 1, total: 2, failed: 0 }); // too soon: skipped
    bar.done();
    bar.done();
    bar.update({ phase: "connect", done: 2, total: 2, failed: 0 }); // after done: ignored
    expect(writes).toHaveLength(4);
    expect(writes[0]).toContain("provisioning [###.......] 1/4 25%  errors 0");
    expect(writes[1]).toContain("[##########] 4/4 100%  errors 1  4.0/s");
    expect(writes[1]?.startsWith("\r")).toBe(true);
    expect(writes[2]).toContain("connecting   [#####.....] 1/2 50%  errors 0");
    expect(writes[3]).toBe("\r\u001b[K");
  });
});
