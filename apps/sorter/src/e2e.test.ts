// End to end against the local simulator (in-process skittle-sim): the sorter on its emulated rig provisions
// through DPS over MQTT with a fresh key and CSR, connects to the simulator's IoT Hub with the issued certificate,
// sends one telemetry message per skittle, reports its twin, obeys direct methods and desired properties sent
// through the simulator's admin API, and reconnects when the hub restarts. The same steps run once per
// `IoTHub.Client` (the official Azure device client, and hub-mqtt); the steps of one client share one simulator and
// one sorter run, in order.
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  type HubDeviceView,
  type IssuedCertificate,
  type Registration,
  type SimConfigOnDisk,
  type Simulator,
  startSimulator,
  type TelemetryView,
} from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunSummary, type SorterApp, startSorterApp } from "./app.ts";
import { resolveConfig, type SorterConfig } from "./config/index.ts";
import { captureLogger } from "./fakes.test-support.ts";
import { SOFTWARE_NAME, SOFTWARE_VERSION } from "./version.ts";

const registrationId = "e2e-sorter";

interface AdminTwin {
  properties: { desired: Record<string, unknown>; reported: Record<string, unknown> };
}

describe.each(["azure-iot-device", "hub-mqtt"] as const)(
  "the sorter against skittle-sim with IoTHub.Client %s",
  (client) => {
    let dir: TempDir;
    let sim: Simulator<SimConfigOnDisk>;
    let config: SorterConfig;
    let app: SorterApp | undefined;
    let summary: RunSummary | undefined;
    const log = captureLogger();

    async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await fetch(`${sim.config.http.url}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
      return JSON.parse(text) as T;
    }

    const device = () => admin<HubDeviceView>("GET", `/admin/devices/${registrationId}`);
    const twin = () => admin<AdminTwin>("GET", `/admin/devices/${registrationId}/twin`);
    const telemetry = () =>
      admin<TelemetryView[]>("GET", `/admin/telemetry?device=${registrationId}&limit=10000`);
    const invoke = (methodName: string) =>
      admin<{ status: number; payload: Record<string, unknown> }>(
        "POST",
        `/admin/devices/${registrationId}/methods`,
        { methodName, payload: {}, responseTimeoutInSeconds: 15 },
      );
    const setDesired = (desired: Record<string, unknown>) =>
      admin<AdminTwin>("PATCH", `/admin/devices/${registrationId}/twin`, { properties: { desired } });

    /** Retries `probe` until it stops throwing (assertions included), for up to `timeoutMs`. */
    async function eventually<T>(probe: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          return await probe();
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      }
    }

    const reportedSorting = async () =>
      (await twin()).properties.reported.sorting as {
        state?: string;
        chutePositions?: Record<string, number>;
      };

    beforeAll(async () => {
      dir = await tempDir("sorter-e2e-");
      sim = await startSimulator({ dataDir: join(dir.path, "sim") });
      const groupKey = sim.config.enrollmentGroups[0]?.primaryKey;
      config = resolveConfig(
        {
          MockMode: { EnableMockColorSensor: true, EnableMockServos: true },
          ChutePositions: { Reject: 134 },
          // A hopper that outlasts the test; 20× faster than real time, so methods meet a sorter at work.
          EmulatedRig: { Skittles: 5000, Seed: 5, TimeScale: 0.05 },
          IoTHub: {
            DeviceId: "{RegistrationId}",
            TwinReportIntervalMs: 0,
            Client: client,
            DpsProvisioning: {
              ProvisioningHost: sim.config.dps.endpoint,
              IdScope: sim.config.idScope,
              RegistrationId: registrationId,
              EnrollmentGroupKeyBase64: groupKey,
            },
          },
          Certificates: { TrustedCaFile: sim.config.trustedCaFile },
        },
        { dataDir: join(dir.path, "sorter") },
      );
    });

    afterAll(async () => {
      await app?.stop().catch(() => undefined);
      await sim?.close();
      await dir?.[Symbol.asyncDispose]();
    });

    it("provisions with a fresh key and CSR, then sends telemetry over the issued certificate", async () => {
      app = await startSorterApp(config, {
        logger: log.logger,
        reconnectInitialMs: 50,
        reconnectMaxMs: 200,
      });
      expect(app.ensured).toMatchObject({
        source: "provisioned",
        credentials: { deviceId: registrationId, assignedHub: sim.config.hubs[0]?.hostname },
      });
      expect(existsSync(config.credentials.csrFile)).toBe(true);
      // Only hub-mqtt's client logs "hub connected": the configured client is the one that runs.
      await eventually(() =>
        expect(log.lines.some((line) => line.message === "hub connected")).toBe(client === "hub-mqtt"),
      );

      const issued = await admin<IssuedCertificate[]>(
        "GET",
        `/admin/issued-certificates?registrationId=${registrationId}`,
      );
      expect(issued).toHaveLength(1);
      expect(issued[0]).toMatchObject({ subject: `CN=${registrationId}`, keyType: "ec-p384" });
      const registration = await admin<Registration>("GET", `/admin/registrations/${registrationId}`);
      expect(registration).toMatchObject({
        status: "assigned",
        attestationType: "symmetricKey",
        issuedCertificateSerial: issued[0]?.serialNumber,
      });

      const connected = await eventually(async () => {
        const view = await device();
        expect(view).toMatchObject({ connectionState: "Connected", authMethod: "x509CA" });
        expect(view.messageCount).toBeGreaterThan(2);
        return view;
      });
      expect(connected.certificate?.sha256Thumbprint.replaceAll(":", "").toUpperCase()).toBe(
        app.credentials?.current?.certificate.sha256Thumbprint.replaceAll(":", "").toUpperCase(),
      );
      const reported = (await eventually(async () => {
        const value = (await twin()).properties.reported;
        expect(value.certificate).toBeDefined();
        return value;
      })) as { software: unknown; certificate: { validFrom: string; validUntil: string } };
      expect(reported.software).toEqual({ name: SOFTWARE_NAME, version: SOFTWARE_VERSION });
      expect(reported.certificate.validFrom).toBe(
        app.credentials?.current?.certificate.notBefore.toISOString(),
      );
      expect(reported.certificate.validUntil).toBe(
        app.credentials?.current?.certificate.notAfter.toISOString(),
      );
    });

    it("obeys the direct methods pause, home and resume invoked through the admin API", async () => {
      const sorter = app?.sorter;
      if (app === undefined || sorter === undefined) throw new Error("the sorter did not start");

      expect(await invoke("pause")).toEqual({ status: 200, payload: { state: "paused" } });
      expect(await invoke("home")).toEqual({ status: 200, payload: { state: "paused", parked: true } });
      expect(app.hardware.pick.angleDeg).toBe(config.positions.park);
      expect(app.hardware.chute.angleDeg).toBe(config.chutes.default);
      const sortedWhenPaused = sorter.sorted;
      await eventually(async () => expect(await reportedSorting()).toMatchObject({ state: "paused" }));
      // Paused: everything sorted so far reaches the hub, and nothing more is sorted.
      await eventually(async () => expect((await device()).messageCount).toBe(sortedWhenPaused));
      expect(sorter.sorted).toBe(sortedWhenPaused);

      expect(await invoke("resume")).toEqual({ status: 200, payload: { state: "running" } });
      await eventually(() => expect(sorter.sorted).toBeGreaterThan(sortedWhenPaused + 2));
      await eventually(async () => expect(await reportedSorting()).toMatchObject({ state: "running" }));
    });

    it("follows desired properties: enableSorting and chute positions", async () => {
      const sorter = app?.sorter;
      if (sorter === undefined) throw new Error("the sorter did not start");

      await setDesired({ enableSorting: false });
      await eventually(() => expect(sorter.state).toBe("paused"));
      await eventually(async () => expect(await reportedSorting()).toMatchObject({ state: "paused" }));

      await setDesired({ enableSorting: true, chutePositions: { Reject: 140 } });
      await eventually(() => expect(sorter.state).toBe("running"));
      expect(sorter.chutePositions.reject).toBe(140);
      await eventually(async () =>
        expect(await reportedSorting()).toMatchObject({ state: "running", chutePositions: { Reject: 140 } }),
      );
    });

    it("reconnects after the hub restarts; what was sorted meanwhile waits in the outbox", async () => {
      const uplink = app?.uplink;
      const sorter = app?.sorter;
      if (uplink === undefined || sorter === undefined) throw new Error("the sorter did not start");
      const connectsBefore = uplink.stats.connects;
      await sim.close();
      const sortedWhileDown = sorter.sorted;
      await eventually(() => expect(sorter.sorted).toBeGreaterThan(sortedWhileDown + 3));
      expect(app?.outbox?.size).toBeGreaterThan(0);
      // Without port options the simulator comes back on the ports of its previous run.
      sim = await startSimulator({ dataDir: join(dir.path, "sim") });
      await eventually(() => expect(uplink.stats.connects).toBeGreaterThan(connectsBefore), 20_000);
      await eventually(async () => expect((await device()).connectionState).toBe("Connected"));
      await eventually(() => expect(app?.outbox?.size).toBe(0), 20_000);
    });

    it("stops cleanly: the simulator stored every skittle once, with its colour, and the twin has the final counts", async () => {
      if (app === undefined) throw new Error("the sorter did not start");
      summary = await app.stop();
      const sorted = summary.sorting.sorted;
      expect(summary.stopReason).toBe("requested");
      expect(summary.rig).toMatchObject({ sorted, correct: sorted, accuracy: 1 });
      expect(summary.telemetry).toEqual({ queued: sorted, delivered: sorted, pending: 0, dropped: 0 });

      const stored = await telemetry();
      expect(stored).toHaveLength(sorted);
      const bodies = stored.map(
        (message) => JSON.parse(message.body) as { messageId: number; color: string },
      );
      expect(bodies.map((body) => body.messageId)).toEqual(Array.from({ length: sorted }, (_, i) => i + 1));
      expect(stored.map((message) => message.systemProperties.messageId)).toEqual(
        bodies.map((body) => String(body.messageId)),
      );
      const colors: Record<string, number> = {};
      for (const body of bodies) colors[body.color] = (colors[body.color] ?? 0) + 1;
      expect(colors).toEqual(summary.sorting.byColor);

      const reported = (await twin()).properties.reported;
      expect(reported).toMatchObject({
        counts: { total: sorted, ...summary.sorting.byColor },
        sorting: { state: "stopped" },
        certificate: { validUntil: summary.certificate?.notAfter },
      });
      expect((await device()).connectionState).toBe("Disconnected");
    });

    it("logged no secret", () => {
      const groupKey = sim.config.enrollmentGroups[0]?.primaryKey ?? "";
      const deviceKey = createHmac("sha256", Buffer.from(groupKey, "base64"))
        .update(registrationId)
        .digest("base64");
      const text = log.text();
      expect(text).toContain("obtained a new certificate");
      expect(text).not.toContain(groupKey);
      expect(text).not.toContain(deviceKey);
      expect(text).not.toMatch(/PRIVATE KEY|sig=/);
    });
  },
);
