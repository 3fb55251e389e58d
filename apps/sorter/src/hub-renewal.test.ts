// Certificate renewal through IoT Hub with `IoTHub.Client: "hub-mqtt"`, end to end over real MQTT/TLS on loopback:
// the scripted DPS of @skittlesorter/test-utils issues the first certificate, the scripted IoT Hub serves
// `$iothub/credentials`. Both issue from one CA dated by the test's clock, so a certificate's lifetime passes in a
// few clock jumps while the network runs in real time (skittle-sim dates its certificates by its own clock; renewal
// through skittle-sim end to end: packages/hub-client/src/hub-mqtt-renewal.sim.test.ts).
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import {
  createTestPki,
  type ScriptedDps,
  standardDps,
  startScriptedDps,
  type TestPki,
} from "@skittlesorter/test-utils/scripted-dps";
import {
  type ScriptedHub,
  type ScriptedHubOptions,
  standardCredentials,
  startScriptedHub,
} from "@skittlesorter/test-utils/scripted-hub";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type SorterApp, startSorterApp } from "./app.ts";
import { resolveConfig } from "./config/index.ts";
import { captureLogger, type FakeIssuer, fakeIssuer, JumpClock, waitFor } from "./fakes.test-support.ts";

const DAY = 24 * 3600 * 1000;
const registrationId = "renewing-sorter";

let pki: TestPki;
let dir: TempDir;
let clock: JumpClock;
let issuer: FakeIssuer;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  pki = await createTestPki();
});
afterAll(async () => {
  await pki?.[Symbol.asyncDispose]();
});
beforeEach(async () => {
  dir = await tempDir("sorter-hub-renewal-");
  clock = new JumpClock();
  issuer = await fakeIssuer({ clock, validityDays: 30 });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await dir[Symbol.asyncDispose]();
});

interface Rig {
  app: SorterApp;
  keyFile: string;
  hub: ScriptedHub;
  dps: ScriptedDps;
  log: ReturnType<typeof captureLogger>;
}

/** DPS and hub on loopback, and the sorter on its emulated rig with `IoTHub.Client: "hub-mqtt"`. */
async function start(hubOptions: Partial<ScriptedHubOptions> = {}): Promise<Rig> {
  const hub = await startScriptedHub({
    pki,
    requestCert: true,
    credentials: standardCredentials({ pki, issue: (csr) => issuer.issue(csr) }),
    ...hubOptions,
  });
  cleanups.push(() => hub.close());
  const dps = await startScriptedDps({
    pki,
    script: standardDps({
      assignOnRegister: true,
      hub: `localhost:${hub.port}`,
      issue: (csr) => issuer.issue(csr),
    }),
  });
  cleanups.push(() => dps.close());
  const trustedCaFile = join(dir.path, "root.pem");
  await writeFile(trustedCaFile, pki.rootPem);
  const config = resolveConfig(
    {
      MockMode: { EnableMockColorSensor: true, EnableMockServos: true },
      // A hopper that outlasts the test, 100× faster than real time.
      EmulatedRig: { Skittles: 100_000, Seed: 3, TimeScale: 0.01 },
      IoTHub: {
        Client: "hub-mqtt",
        TwinReportIntervalMs: 0,
        DpsProvisioning: {
          ProvisioningHost: `localhost:${dps.port}`,
          IdScope: "0ne00000A0A",
          RegistrationId: registrationId,
          EnrollmentGroupKeyBase64: Buffer.alloc(64, 3).toString("base64"),
        },
      },
      Certificates: { TrustedCaFile: trustedCaFile, KeyType: "ec-p256", RenewalWindowDays: 7 },
    },
    { dataDir: join(dir.path, "data") },
  );
  const log = captureLogger();
  const app = await startSorterApp(config, {
    clock,
    logger: log.logger,
    reconnectInitialMs: 20,
    reconnectMaxMs: 100,
  });
  cleanups.push(() => app.stop());
  return { app, hub, dps, log, keyFile: config.credentials.keyFile };
}

const fingerprint = (hex: string | undefined): string => (hex ?? "").replaceAll(":", "").toUpperCase();
const messageIds = (hub: ScriptedHub): number[] =>
  hub.telemetry.map((record) => (JSON.parse(record.payload.toString()) as { messageId: number }).messageId);
const registrations = (dps: ScriptedDps): number =>
  dps.requests.filter((request) => request.kind === "register").length;
/** Telemetry the hub received over a connection that presented the certificate `thumbprint`. */
const sentWith = (hub: ScriptedHub, thumbprint: string): number =>
  hub.telemetry.filter((record) => fingerprint(record.connection.peerFingerprint256) === thumbprint).length;

describe('the sorter with IoTHub.Client "hub-mqtt"', () => {
  it("lives through a certificate's lifetime: renews through the hub at the window, reconnects, loses nothing", async () => {
    const { app, hub, dps, log, keyFile } = await start();
    const manager = app.credentials;
    if (manager === undefined) throw new Error("telemetry is off");
    const first = manager.current?.certificate;
    const firstThumbprint = fingerprint(first?.sha256Thumbprint);
    await waitFor(() => sentWith(hub, firstThumbprint) >= 5, 20_000, "telemetry with the DPS certificate");
    expect(registrations(dps)).toBe(1);

    // 30-day certificate, 7-day window: renewal is due after 23 days.
    clock.jump(23 * DAY + 60_000);
    await waitFor(() => manager.hubRenewalCount === 1, 8000, "renewal through the hub");
    const renewed = manager.current?.certificate;
    const renewedThumbprint = fingerprint(renewed?.sha256Thumbprint);
    expect(renewedThumbprint).not.toBe(firstThumbprint);
    expect(renewed?.commonName).toBe(registrationId);
    expect(hub.credentialRequests).toHaveLength(1);
    // Asked over the live connection, with the DPS certificate.
    expect(fingerprint(hub.credentialRequests[0]?.connection.peerFingerprint256)).toBe(firstThumbprint);
    await waitFor(
      () => sentWith(hub, renewedThumbprint) >= 5,
      20_000,
      "telemetry with the renewed certificate",
    );

    // Past the first certificate's expiry: the sorter keeps sorting on the renewed one, without renewing again.
    clock.jump(8 * DAY);
    const sentBefore = sentWith(hub, renewedThumbprint);
    await waitFor(() => sentWith(hub, renewedThumbprint) >= sentBefore + 5, 20_000, "sorting after day 31");
    const summary = await app.stop();
    expect(hub.credentialRequests).toHaveLength(1);
    expect(registrations(dps)).toBe(1);
    expect(summary.certificate?.sha256Thumbprint).toBe(renewed?.sha256Thumbprint);
    expect(summary.telemetry).toMatchObject({ pending: 0, dropped: 0 });
    // Every skittle reached the hub once, in order, across the switch of certificates.
    const sorted = summary.sorting.sorted;
    expect(messageIds(hub)).toEqual(Array.from({ length: sorted }, (_, i) => i + 1));
    expect(sentWith(hub, firstThumbprint) + sentWith(hub, renewedThumbprint)).toBe(sorted);
    expect(hub.twin.reported).toMatchObject({ certificate: { validUntil: renewed?.notAfter.toISOString() } });
    // The new key replaced the old one, private as before; the log has no key.
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(log.text()).toContain("renewed the certificate through IoT Hub");
    expect(log.text()).not.toContain("PRIVATE KEY");
  });

  it.each([
    ["has no certificate management", { refuseSubscriptions: ["$iothub/credentials/res/#"] }],
    [
      "refuses the request",
      {
        credentials: () => [
          { status: 400, body: { errorCode: 400004, message: "not allowed", trackingId: "t-400" } },
        ],
      },
    ],
  ] as const)("provisions through DPS when the hub %s, and loses nothing", async (_case, hubOptions) => {
    const { app, hub, dps, log } = await start(hubOptions);
    const manager = app.credentials;
    if (manager === undefined) throw new Error("telemetry is off");
    const firstThumbprint = fingerprint(manager.current?.certificate.sha256Thumbprint);
    await waitFor(() => sentWith(hub, firstThumbprint) >= 5, 20_000, "telemetry with the first certificate");

    clock.jump(23 * DAY + 60_000);
    await waitFor(() => registrations(dps) === 2, 20_000, "provisioning through DPS");
    await waitFor(() => manager.provisionCount === 2, 20_000, "the DPS certificate stored");
    expect(manager.hubRenewalCount).toBe(0);
    const nextThumbprint = fingerprint(manager.current?.certificate.sha256Thumbprint);
    expect(nextThumbprint).not.toBe(firstThumbprint);
    await waitFor(() => sentWith(hub, nextThumbprint) >= 5, 20_000, "telemetry with the DPS certificate");

    const summary = await app.stop();
    expect(summary.telemetry).toMatchObject({ pending: 0, dropped: 0 });
    expect(messageIds(hub)).toEqual(Array.from({ length: summary.sorting.sorted }, (_, i) => i + 1));
    expect(log.text()).toMatch(/the hub refused to renew the certificate; provisioning through DPS/);
  });
});
