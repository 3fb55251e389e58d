// A certificate's lifetime with `IoTHub.Client: "hub-mqtt"` against the in-process simulator (skittle-sim): DPS
// issues the first certificate for the sorter's CSR, and the renewal goes to the hub's `$iothub/credentials`. The
// sorter and the simulator share one clock that runs in real time and jumps on demand, so the simulator dates its
// certificates, checks them at connect and answers renewals in the same virtual time as the sorter's renewal timer.
// (A hub without certificate management, which skittle-sim cannot be: hub-renewal.test.ts, on a scripted hub.)
import { stat } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import {
  type AuditEvent,
  type SimConfigOnDisk,
  type Simulator,
  startSimulator,
  type TelemetryView,
} from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SorterApp, startSorterApp } from "./app.ts";
import { resolveConfig } from "./config/index.ts";
import { captureLogger, JumpClock, waitFor } from "./fakes.test-support.ts";

const DAY = 24 * 3600 * 1000;
const registrationId = "renewing-sorter";

let dir: TempDir;
let clock: JumpClock;
let sim: Simulator<SimConfigOnDisk>;
let app: SorterApp | undefined;

beforeEach(async () => {
  dir = await tempDir("sorter-hub-renewal-sim-");
  clock = new JumpClock();
  sim = await startSimulator({ dataDir: join(dir.path, "sim"), clock });
});
afterEach(async () => {
  await app?.stop().catch(() => undefined);
  app = undefined;
  await sim?.close();
  await dir[Symbol.asyncDispose]();
});

/** The sorter on its emulated rig, provisioned through the simulator's DPS, with `IoTHub.Client: "hub-mqtt"`. */
async function startSorter(
  log: ReturnType<typeof captureLogger>,
): Promise<{ started: SorterApp; keyFile: string }> {
  const config = resolveConfig(
    {
      MockMode: { EnableMockColorSensor: true, EnableMockServos: true },
      // A hopper that outlasts the test, 20× faster than real time.
      EmulatedRig: { Skittles: 100_000, Seed: 3, TimeScale: 0.05 },
      IoTHub: {
        Client: "hub-mqtt",
        TwinReportIntervalMs: 0,
        DpsProvisioning: {
          ProvisioningHost: sim.config.dps.endpoint,
          IdScope: sim.config.idScope,
          RegistrationId: registrationId,
          EnrollmentGroupKeyBase64: sim.config.enrollmentGroups[0]?.primaryKey,
        },
      },
      Certificates: { TrustedCaFile: sim.config.trustedCaFile, RenewalWindowDays: 7 },
    },
    { dataDir: join(dir.path, "sorter") },
  );
  app = await startSorterApp(config, {
    clock,
    logger: log.logger,
    reconnectInitialMs: 20,
    reconnectMaxMs: 100,
  });
  return { started: app, keyFile: config.credentials.keyFile };
}

const thumb = (hex: string | undefined): string => (hex ?? "").replaceAll(":", "").toUpperCase();
const events = (kind: string): Promise<AuditEvent[]> =>
  sim.admin.listEvents({ subject: registrationId, kinds: [kind], limit: 1000 });
/** The sorter's telemetry as the simulator stored it, oldest first (read in pages). */
async function storedTelemetry(): Promise<TelemetryView[]> {
  const all: TelemetryView[] = [];
  for (;;) {
    const page = await sim.admin.listTelemetry({
      device: registrationId,
      after: all.at(-1)?.id,
      limit: 10_000,
    });
    all.push(...page);
    if (page.length < 10_000) return all;
  }
}
const stored = async (): Promise<number> => (await storedTelemetry()).length;

/** Waits until the simulator stored `count` more telemetry messages of the sorter than it had. */
async function sortsOn(what: string, count = 5): Promise<void> {
  const target = (await stored()) + count;
  const deadline = Date.now() + 20_000;
  while ((await stored()) < target) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Takes the credential policy off the device's ADR record (ADR REST: PATCH `properties.policy: null`). */
async function removeAdrPolicy(deviceId: string): Promise<void> {
  const { adr, trustedCa } = sim.config;
  const name = (await sim.admin.getDevice(deviceId)).adrDeviceName;
  if (name === null) throw new Error(`device ${deviceId} has no ADR record`);
  const url = new URL(`${adr.baseUrl}${adr.namespaceId}/devices/${name}?api-version=${adr.apiVersion}`);
  const status = await new Promise<number | undefined>((resolve, reject) => {
    const patch = request(
      url,
      {
        method: "PATCH",
        ca: trustedCa,
        headers: { authorization: `Bearer ${adr.token}`, "content-type": "application/json" },
      },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode));
      },
    );
    patch.on("error", reject);
    patch.end(JSON.stringify({ properties: { policy: null } }));
  });
  if (status !== 200 && status !== 202) throw new Error(`ADR PATCH of ${name}: HTTP ${status}`);
}

/** Every skittle's telemetry reached the simulator once, in order: ids 1…sorted. */
async function expectEverySkittleStored(sorted: number): Promise<void> {
  const ids = (await storedTelemetry()).map(
    (message) => (JSON.parse(message.body) as { messageId: number }).messageId,
  );
  expect(ids).toEqual(Array.from({ length: sorted }, (_, i) => i + 1));
}

describe('the sorter with IoTHub.Client "hub-mqtt" against skittle-sim', () => {
  it("lives through a certificate's lifetime: renews through the hub at the window, reconnects with it, loses nothing", async () => {
    const log = captureLogger();
    const { started: sorter, keyFile } = await startSorter(log);
    const manager = sorter.credentials;
    const uplink = sorter.uplink;
    if (manager === undefined || uplink === undefined) throw new Error("telemetry is off");
    const first = manager.current?.certificate;
    if (first === undefined) throw new Error("no certificate");
    await sortsOn("telemetry with the DPS certificate");
    expect(await events("registration.assigned")).toHaveLength(1);
    const connectsBefore = uplink.stats.connects;

    // The simulator's default policy issues 30-day certificates; with a 7-day window renewal is due after 23 days.
    clock.jump(23 * DAY + 60_000);
    await waitFor(() => manager.hubRenewalCount === 1, 20_000, "renewal through the hub");
    const renewed = manager.current?.certificate;
    expect(thumb(renewed?.sha256Thumbprint)).not.toBe(thumb(first.sha256Thumbprint));
    expect(renewed?.commonName).toBe(registrationId);
    expect(renewed?.notBefore.getTime()).toBeGreaterThan(first.notBefore.getTime() + 22 * DAY);

    const renewals = await sim.admin.listRenewals({ device: registrationId });
    expect(renewals).toHaveLength(1);
    expect(renewals[0]).toMatchObject({ state: "issued", status: 200, serialNumber: renewed?.serialNumber });
    // No new DPS registration: the hub issued it, and recorded it as the device's certificate.
    expect(await events("registration.assigned")).toHaveLength(1);
    expect(await events("hub.certificateRenewed")).toHaveLength(1);
    const device = await sim.admin.getDevice(registrationId);
    expect(thumb(device.certificate?.sha256Thumbprint)).toBe(thumb(renewed?.sha256Thumbprint));
    expect(device.certificate?.serialNumber).toBe(renewed?.serialNumber);
    // The uplink switched to the new certificate: a new connection, and telemetry continues on it.
    await waitFor(
      () => uplink.stats.connects > connectsBefore,
      20_000,
      "a connection with the new certificate",
    );
    await sortsOn("telemetry after the renewal");

    // Past the first certificate's expiry, the hub restarts: it accepts only the renewed certificate now, and the
    // sorter, reconnecting with it, keeps sorting without renewing again.
    clock.jump(8 * DAY);
    await sim.close();
    sim = await startSimulator({ dataDir: join(dir.path, "sim"), clock });
    await sortsOn("telemetry after day 31, on a new connection");
    const refused = await events("hub.connectionRefused");
    expect(refused).toEqual([]);

    const summary = await sorter.stop();
    expect(manager.hubRenewalCount).toBe(1);
    expect(await events("registration.assigned")).toHaveLength(1);
    expect(summary.certificate?.sha256Thumbprint).toBe(renewed?.sha256Thumbprint);
    expect(summary.telemetry).toMatchObject({ pending: 0, dropped: 0 });
    await expectEverySkittleStored(summary.sorting.sorted);
    const twin = await sim.admin.getTwin(registrationId);
    expect(twin.properties.reported).toMatchObject({
      certificate: { validUntil: renewed?.notAfter.toISOString() },
    });
    // The new key replaced the old one, private as before; the log has no key.
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(log.text()).toContain("renewed the certificate through IoT Hub");
    expect(log.text()).not.toContain("PRIVATE KEY");
  });

  it("provisions through DPS when the hub refuses (the device's ADR credential policy is gone), and loses nothing", async () => {
    const log = captureLogger();
    const { started: sorter } = await startSorter(log);
    const manager = sorter.credentials;
    if (manager === undefined) throw new Error("telemetry is off");
    const first = manager.current?.certificate;
    await sortsOn("telemetry with the first certificate");

    // Without a credential policy the hub accepts the request (202), then refuses it: 400 400037.
    await removeAdrPolicy(registrationId);

    clock.jump(23 * DAY + 60_000);
    await waitFor(() => manager.provisionCount === 2, 20_000, "a certificate from DPS");
    expect(manager.hubRenewalCount).toBe(0);
    const renewals = await sim.admin.listRenewals({ device: registrationId });
    expect(renewals).toHaveLength(1);
    expect(renewals[0]).toMatchObject({ state: "failed", status: 400, errorCode: 400037 });
    expect(await events("registration.assigned")).toHaveLength(2);
    const next = manager.current?.certificate;
    expect(thumb(next?.sha256Thumbprint)).not.toBe(thumb(first?.sha256Thumbprint));
    expect(thumb((await sim.admin.getDevice(registrationId)).certificate?.sha256Thumbprint)).toBe(
      thumb(next?.sha256Thumbprint),
    );
    await sortsOn("telemetry with the DPS certificate");

    const summary = await sorter.stop();
    expect(summary.telemetry).toMatchObject({ pending: 0, dropped: 0 });
    await expectEverySkittleStored(summary.sorting.sorted);
    expect(log.text()).toMatch(/the hub refused to renew the certificate; provisioning through DPS/);
  });
});
