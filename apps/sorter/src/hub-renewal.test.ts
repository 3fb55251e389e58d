// `IoTHub.Client: "hub-mqtt"` against a hub without certificate management, over real MQTT/TLS on loopback: the
// scripted IoT Hub of @skittlesorter/test-utils refuses the subscription to `$iothub/credentials/res/#` (an IoT Hub
// without ADR certificate management does), which skittle-sim cannot be: it offers certificate management to every
// connection with the preview api-version, and hub-mqtt always asks for it. The lifetime through the hub and the
// fallback when the hub refuses a request run against skittle-sim: hub-renewal.sim.test.ts.
import { writeFile } from "node:fs/promises";
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
  return { app, hub, dps, log };
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
  it("provisions through DPS when the hub has no certificate management, and loses nothing", async () => {
    const { app, hub, dps, log } = await start({ refuseSubscriptions: ["$iothub/credentials/res/#"] });
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
