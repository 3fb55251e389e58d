import { join } from "node:path";
import { MemoryHub } from "@skittlesorter/hub-client/testing";
import { type Simulator, startSimulator } from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FleetOptions, fleetRegistrationId, isFleetError, runFleet } from "./index.ts";

describe("runFleet options", () => {
  const base: FleetOptions = {
    host: "localhost",
    idScope: "0ne00000A0A",
    groupKey: "a2V5",
    devices: 2,
    concurrency: 1,
  };

  it.each([
    [{ devices: 0 }, "devices", "devices must be a whole number from 1 to 1000000, got 0"],
    [{ concurrency: 1.5 }, "concurrency", "concurrency must be a whole number from 1 to 10000"],
    [{ telemetry: -1 }, "telemetry", "telemetry must be a whole number from 0"],
    [{ prefix: "Bad Prefix!" }, "prefix", 'the prefix "Bad Prefix!" makes invalid registration ids such as'],
  ])("refuses %o with FLEET_INVALID_OPTION naming %s", async (override, option, message) => {
    const error = await runFleet({ ...base, ...override }).catch((caught: unknown) => caught);
    expect(isFleetError(error)).toBe(true);
    expect(error).toMatchObject({
      code: "FLEET_INVALID_OPTION",
      option,
      message: expect.stringContaining(message),
    });
  });

  it("zero-pads registration ids to the widest index", () => {
    expect(fleetRegistrationId("f-", 7, 100)).toBe("f-07");
    expect(fleetRegistrationId("f-", 0, 1)).toBe("f-0");
  });
});

// Real DPS over MQTT/TLS (skittle-sim); telemetry through an injected in-memory hub, so the hub side is observable.
describe("runFleet against skittle-sim with an injected hub connector", () => {
  let dir: TempDir;
  let sim: Simulator;
  let options: Pick<FleetOptions, "host" | "port" | "idScope" | "groupKey" | "ca">;

  beforeAll(async () => {
    dir = await tempDir("fleet-");
    sim = await startSimulator({ dataDir: join(dir.path, "sim") });
    options = {
      host: sim.config.dps.host,
      port: sim.config.dps.port,
      idScope: sim.config.idScope,
      groupKey: sim.config.enrollmentGroups[0]?.primaryKey ?? "",
      ca: sim.config.trustedCa,
    };
  });

  afterAll(async () => {
    await sim?.close();
    await dir?.[Symbol.asyncDispose]();
  });

  it("connects CSR devices with their issued certificate and the others with SAS, and the counts add up", async () => {
    const hub = new MemoryHub();
    const progress: string[] = [];
    const withCsr = await runFleet({
      ...options,
      devices: 2,
      concurrency: 2,
      prefix: "fleet-x509-",
      csrKeyType: "ec-p384",
      telemetry: 2,
      minRetryAfterMs: 0,
      maxRetryAfterMs: 0,
      hubConnector: hub,
      onProgress: (p) => progress.push(`${p.phase} ${p.done}/${p.total}`),
    });
    const withSas = await runFleet({
      ...options,
      devices: 1,
      concurrency: 1,
      prefix: "fleet-sas-",
      telemetry: 1,
      minRetryAfterMs: 0,
      maxRetryAfterMs: 0,
      hubConnector: hub,
    });
    expect(withCsr.errors).toEqual([]);
    expect(withCsr.telemetry).toMatchObject({
      devices: 2,
      connected: 2,
      attempted: 4,
      acknowledged: 4,
      notSent: 0,
    });
    expect(withSas.telemetry).toMatchObject({ connected: 1, acknowledged: 1 });
    expect(progress).toContain("telemetry 4/4");
    expect(hub.messages.map((m) => [m.deviceId, m.authentication, m.messageId, m.contentType])).toEqual(
      expect.arrayContaining([
        ["fleet-x509-0", "x509", "fleet-x509-0-0", "application/json"],
        ["fleet-x509-1", "x509", "fleet-x509-1-1", "application/json"],
        ["fleet-sas-0", "sas", "fleet-sas-0-0", "application/json"],
      ]),
    );
    expect(hub.messages).toHaveLength(5);
    expect(
      hub.messages.every((m) => m.authentication === "sas" || /^[0-9A-F]{64}$/.test(m.thumbprint ?? "")),
    ).toBe(true);
  });

  it("counts a device the hub refuses under connect with the hub client's code, and its messages as not sent", async () => {
    const hub = new MemoryHub();
    hub.refuse("fleet-refused-1");
    const report = await runFleet({
      ...options,
      devices: 2,
      concurrency: 2,
      prefix: "fleet-refused-",
      telemetry: 3,
      minRetryAfterMs: 0,
      maxRetryAfterMs: 0,
      hubConnector: hub,
    });
    expect(report.telemetry).toMatchObject({
      devices: 2,
      connected: 1,
      connectFailed: 1,
      acknowledged: 3,
      notSent: 3,
    });
    expect(report.errors).toEqual([
      expect.objectContaining({ stage: "connect", code: "HUB_UNAUTHORIZED", count: 1 }),
    ]);
  });
});
