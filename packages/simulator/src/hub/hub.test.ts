import { join } from "node:path";
import { createSasToken } from "@skittlesorter/attestation";
import type { Clock } from "@skittlesorter/core";
import {
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  privateKeyToPem,
  readPrivateKeyFile,
} from "@skittlesorter/csr";
import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ProvisionedDevice,
  provisionDevice,
  runCli,
  startTestSim,
  type TestSim,
  waitFor,
  x509Of,
} from "../sim.test-support.ts";

const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;
type DeviceClient = InstanceType<typeof Client>;

interface TelemetryItem {
  id: number;
  deviceId: string;
  body: string;
  properties: Record<string, string>;
  systemProperties: Record<string, string>;
}

interface DeviceView {
  deviceId: string;
  connectionState: string;
  subscriptions: string[];
  messageCount: number;
  authMethod: string | null;
  certificate: { daysLeft: number; notAfter: string } | null;
}

// The IoT Hub side: the OFFICIAL azure-iot-device + azure-iot-device-mqtt client in-process (it takes the
// simulator's root through setOptions({ ca })), devices provisioned by the simulator's own DPS.
describe("IoT Hub over MQTT", () => {
  let sim: TestSim;
  let x509Device: ProvisionedDevice;
  let sasDevice: ProvisionedDevice;

  const officialX509 = async (device: ProvisionedDevice): Promise<DeviceClient> => {
    // assignedHub exactly as DPS returned it.
    const client = Client.fromConnectionString(
      `HostName=${device.assignedHub};DeviceId=${device.deviceId};x509=true`,
      Mqtt,
    );
    await client.setOptions({ ...x509Of(device), ca: sim.rootPem });
    await client.open();
    return client;
  };

  const rawHub = (options: {
    clientId: string;
    username?: string;
    password?: string;
    cert?: string;
    key?: string;
    websocket?: boolean;
  }): Promise<MqttClient> => {
    const hub = sim.config.hubs[0];
    if (hub === undefined) throw new Error("no hub in sim.json");
    return connectAsync(options.websocket ? hub.wsUrl : `mqtts://127.0.0.1:${hub.port}`, {
      clientId: options.clientId,
      username: options.username ?? `${hub.hostname}/${options.clientId}/?api-version=2021-04-12`,
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
      ca: sim.rootPem,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
  };

  const sasFor = (device: ProvisionedDevice, key = device.deviceKey): string =>
    createSasToken(`${device.assignedHub}/devices/${device.deviceId}`, key);

  const deviceView = (deviceId: string): Promise<DeviceView> =>
    sim.admin.get<DeviceView>(`/admin/devices/${encodeURIComponent(deviceId)}`);

  const telemetryOf = (deviceId: string): Promise<TelemetryItem[]> =>
    sim.admin.get<TelemetryItem[]>(`/admin/telemetry?device=${encodeURIComponent(deviceId)}`);

  beforeAll(async () => {
    sim = await startTestSim();
    x509Device = await provisionDevice(sim, "hub-x509-01", { csr: true });
    sasDevice = await provisionDevice(sim, "hub-sas-01");
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("takes telemetry from the official client with a DPS-issued certificate; `telemetry list` shows it with its properties", async () => {
    expect(x509Device.assignedHub).toBe(sim.config.hubs[0]?.hostname);
    expect(x509Device.chainPem).toBeDefined();
    const client = await officialX509(x509Device);
    try {
      const message = new Message(JSON.stringify({ color: "Red", deviceId: x509Device.deviceId }));
      message.contentType = "application/json";
      message.contentEncoding = "utf-8";
      message.messageId = "msg-0001";
      message.properties.add("colorAlert", "detected");
      message.properties.add("skittle colour", "rouge & noir");
      await client.sendEvent(message);
    } finally {
      await client.close();
    }

    const run = await runCli([
      "telemetry",
      "list",
      "--device",
      x509Device.deviceId,
      "--limit",
      "10",
      "--data-dir",
      sim.dir.path,
      "--json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const listed = JSON.parse(run.stdout) as TelemetryItem[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      deviceId: x509Device.deviceId,
      body: JSON.stringify({ color: "Red", deviceId: x509Device.deviceId }),
      properties: { colorAlert: "detected", "skittle colour": "rouge & noir" },
      systemProperties: {
        messageId: "msg-0001",
        contentType: "application/json",
        contentEncoding: "utf-8",
        connectionDeviceId: x509Device.deviceId,
        connectionAuthMethod:
          '{"scope":"device","type":"x509Certificate","issuer":"external","acceptingIpFilterRule":null}',
      },
    });

    const human = await runCli(["telemetry", "list", "--data-dir", sim.dir.path]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("colorAlert=detected");
    expect(human.stdout).toContain("messageId=msg-0001");
  });

  it("accepts the official client with a SAS key for a device provisioned by symmetric key without a CSR", async () => {
    const client = Client.fromConnectionString(
      `HostName=${sasDevice.assignedHub};DeviceId=${sasDevice.deviceId};SharedAccessKey=${sasDevice.deviceKey}`,
      Mqtt,
    );
    await client.setOptions({ ca: sim.rootPem });
    try {
      await client.open();
      const message = new Message(JSON.stringify({ color: "Green" }));
      message.contentType = "application/json";
      await client.sendEvent(message);
    } finally {
      await client.close();
    }
    const [stored] = await telemetryOf(sasDevice.deviceId);
    expect(stored).toMatchObject({
      body: JSON.stringify({ color: "Green" }),
      systemProperties: {
        contentType: "application/json",
        connectionAuthMethod:
          '{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}',
      },
    });
    // The hub reads no sorter data from messages: the admin API counts by whichever property is asked for.
    expect(stored).not.toHaveProperty("color");
  });

  it("counts telemetry by a property of the JSON body or the application properties", async () => {
    const summary = (query: string) =>
      sim.admin.get<{ total: number; groupBy?: string; groups: { value: string; count: number }[] }>(
        `/admin/telemetry/summary${query}`,
      );
    const byColor = await summary("?groupBy=color");
    expect(byColor.groupBy).toBe("color");
    expect(byColor.groups).toEqual(
      expect.arrayContaining([
        { value: "Red", count: 1 },
        { value: "Green", count: 1 },
      ]),
    );
    expect(await summary(`?groupBy=${encodeURIComponent("skittle colour")}`)).toMatchObject({
      groups: [{ value: "rouge & noir", count: 1 }],
    });
    expect((await summary("")).groups).toEqual([]);
    await expect(summary(`?groupBy=${encodeURIComponent('a"b')}`)).rejects.toMatchObject({
      statusCode: 400,
      errorCode: "INVALID_QUERY",
    });
  });

  it("keeps twins (GET, reported PATCH with increasing versions, desired PATCH pushed) and runs direct methods", async () => {
    const client = await officialX509(x509Device);
    try {
      const twin = await client.getTwin();
      const versionBefore = (twin.properties.reported as unknown as { $version: number }).$version;
      const report = (patch: Record<string, unknown>): Promise<void> =>
        new Promise((resolve, reject) =>
          twin.properties.reported.update(patch, (error?: Error) => (error ? reject(error) : resolve())),
        );
      await report({ firmware: "1.0.0", sensor: { gain: 4 } });
      await report({ sensor: { gain: 16 } });
      const served = await sim.admin.get<{
        properties: { reported: Record<string, unknown> & { $version: number } };
      }>(`/admin/devices/${x509Device.deviceId}/twin`);
      expect(served.properties.reported).toMatchObject({ firmware: "1.0.0", sensor: { gain: 16 } });
      expect(served.properties.reported.$version).toBe(versionBefore + 2);

      const desired = new Promise<Record<string, unknown>>((resolve) =>
        twin.on("properties.desired", (delta: Record<string, unknown>) => {
          if (delta.telemetryInterval !== undefined) resolve(delta);
        }),
      );
      await waitFor("the desired-properties subscription", async () =>
        (await deviceView(x509Device.deviceId)).subscriptions.includes("desiredUpdates") ? true : undefined,
      );
      const patched = await sim.admin.request<{ properties: { desired: { $version: number } } }>(
        "PATCH",
        `/admin/devices/${x509Device.deviceId}/twin`,
        { body: { properties: { desired: { telemetryInterval: 3000 } } } },
      );
      expect(await desired).toMatchObject({
        telemetryInterval: 3000,
        $version: patched.body.properties.desired.$version,
      });

      client.onDeviceMethod("calibrate", (request, response) => {
        void response.send(200, { calibrated: true, echo: request.payload });
      });
      await waitFor("the methods subscription", async () =>
        (await deviceView(x509Device.deviceId)).subscriptions.includes("methods") ? true : undefined,
      );
      const answer = await sim.admin.request<{ status: number; payload: unknown }>(
        "POST",
        `/admin/devices/${x509Device.deviceId}/methods`,
        { body: { methodName: "calibrate", payload: { white: 812 }, responseTimeoutInSeconds: 10 } },
      );
      expect(answer.body).toEqual({ status: 200, payload: { calibrated: true, echo: { white: 812 } } });
    } finally {
      await client.close();
    }
    await expect(
      sim.admin.request("POST", `/admin/devices/${x509Device.deviceId}/methods`, {
        body: { methodName: "calibrate" },
      }),
    ).rejects.toMatchObject({ statusCode: 404, errorCode: "DEVICE_NOT_ONLINE" });
  });

  it("acknowledges QoS 1 telemetry only once it is stored, and URL-decodes %24 system properties", async () => {
    const client = await rawHub({ clientId: sasDevice.deviceId, password: sasFor(sasDevice) });
    try {
      const before = (await telemetryOf(sasDevice.deviceId)).length;
      await client.publishAsync(
        `devices/${sasDevice.deviceId}/messages/events/%24.mid=raw-1&%24.ct=text%2Fplain&%24.ce=utf-8&bin=3`,
        "orange",
        { qos: 1 },
      );
      // The PUBACK has arrived: the message is already queryable.
      const stored = await telemetryOf(sasDevice.deviceId);
      expect(stored).toHaveLength(before + 1);
      expect(stored.at(-1)).toMatchObject({
        body: "orange",
        properties: { bin: "3" },
        systemProperties: { messageId: "raw-1", contentType: "text/plain", contentEncoding: "utf-8" },
      });
      // Time range and limit.
      const enqueued = Date.parse(stored.at(-1)?.systemProperties.enqueuedTime ?? "");
      const query = (params: string) =>
        sim.admin.get<TelemetryItem[]>(`/admin/telemetry?device=${sasDevice.deviceId}&${params}`);
      expect(await query(`from=${new Date(enqueued + 1).toISOString()}`)).toEqual([]);
      expect((await query(`from=${new Date(enqueued).toISOString()}`)).map((item) => item.body)).toEqual([
        "orange",
      ]);
      expect(await query(`to=${new Date(enqueued - 60_000).toISOString()}`)).toEqual([]);
      expect((await query("limit=1")).map((item) => item.body)).toEqual(["orange"]);
    } finally {
      await client.endAsync();
    }
  });

  it("disconnects a device that publishes on another device's topic, storing nothing", async () => {
    const client = await rawHub({ clientId: sasDevice.deviceId, password: sasFor(sasDevice) });
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.publish(`devices/${x509Device.deviceId}/messages/events/`, "spoofed", { qos: 1 });
    await closed;
    await client.endAsync(true);
    const stored = await telemetryOf(x509Device.deviceId);
    expect(stored.some((item) => item.body === "spoofed")).toBe(false);
    const events = await sim.admin.get<{ kind: string; subject: string }[]>("/admin/events?limit=50");
    expect(events).toContainEqual(
      expect.objectContaining({ kind: "hub.publishRefused", subject: sasDevice.deviceId }),
    );
  });

  it("refuses expired and foreign-CA certificates, a wrong SAS key and unknown devices", async () => {
    const deviceId = x509Device.deviceId;
    const keyPair = await generateKeyPair("ec-p256");
    const keyPem = privateKeyToPem(keyPair.privateKey);

    // Expired: issued by the right issuing CA, but 40 days ago for 7 days.
    const policy = await sim.admin.get<{ issuingCaPem: string }>("/admin/adr/policies/default");
    const issuingKey = await readPrivateKeyFile(
      join(sim.dir.path, "pki", "adr", "skittle-ns", "policy-default.key"),
    );
    const past: Clock = { ...systemClockLike(), now: () => Date.now() - 40 * 24 * 60 * 60 * 1000 };
    const expired = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: deviceId,
      issuer: { certificatePem: policy.issuingCaPem, privateKey: issuingKey },
      validityDays: 7,
      extendedKeyUsage: ["clientAuth"],
      clock: past,
    });
    await expect(
      rawHub({ clientId: deviceId, cert: `${expired}${policy.issuingCaPem}`, key: keyPem }),
    ).rejects.toThrow(/Not authorized/);

    // Foreign CA: right CN, valid, but signed by a CA the hub does not know.
    const foreign = await createCertificateAuthority({
      commonName: "foreign CA",
      keyType: "ec-p256",
      validityDays: 30,
    });
    const foreignLeaf = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: deviceId,
      issuer: foreign,
      validityDays: 7,
      extendedKeyUsage: ["clientAuth"],
    });
    await expect(
      rawHub({ clientId: deviceId, cert: `${foreignLeaf}${foreign.certificatePem}`, key: keyPem }),
    ).rejects.toThrow(/Not authorized/);

    await expect(
      rawHub({
        clientId: sasDevice.deviceId,
        password: sasFor(sasDevice, Buffer.alloc(32, 7).toString("base64")),
      }),
    ).rejects.toThrow(/Not authorized/);
    await expect(rawHub({ clientId: "nobody-01", password: sasFor(sasDevice) })).rejects.toThrow(
      /Not authorized/,
    );

    const events =
      await sim.admin.get<{ kind: string; details: { reason?: string } }[]>("/admin/events?limit=100");
    const reasons = events
      .filter((event) => event.kind === "hub.connectionRefused")
      .map((event) => event.details.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        "CERTIFICATE_EXPIRED",
        "UNTRUSTED_CA",
        "SAS_SIGNATURE_MISMATCH",
        "DEVICE_NOT_FOUND",
      ]),
    );
  });

  it("keeps one connection per device (a new one drops the old), also over WebSocket", async () => {
    const first = await rawHub({ clientId: sasDevice.deviceId, password: sasFor(sasDevice) });
    const firstClosed = new Promise<void>((resolve) => first.once("close", () => resolve()));
    const second = await rawHub({
      clientId: sasDevice.deviceId,
      password: sasFor(sasDevice),
      websocket: true,
    });
    try {
      await firstClosed;
      await second.publishAsync(`devices/${sasDevice.deviceId}/messages/events/`, "over-wss", { qos: 1 });
      const view = await deviceView(sasDevice.deviceId);
      expect(view.connectionState).toBe("Connected");
      expect((await telemetryOf(sasDevice.deviceId)).at(-1)?.body).toBe("over-wss");
    } finally {
      await first.endAsync(true);
      await second.endAsync();
    }
  });

  it("trusts a new credential policy's issuing CA only after credential synchronization", async () => {
    await sim.admin.request("PUT", "/admin/adr/policies/short", { body: { validityDays: 7 } });
    const group = await sim.admin.request<{ attestation: { primaryKey: string } }>(
      "PUT",
      "/admin/enrollment-groups/short-lived?includeSecrets=true",
      { body: { attestation: { type: "symmetricKey" }, credentialPolicy: "short" } },
    );
    const device = await provisionDevice(sim, "hub-short-01", {
      csr: true,
      groupKey: group.body.attestation.primaryKey,
    });
    const connect = () => rawHub({ clientId: device.deviceId, ...x509Of(device) });
    await expect(connect()).rejects.toThrow(/Not authorized/);
    const sync = await runCli(["policy", "sync", "--data-dir", sim.dir.path]);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toContain("short");
    const client = await connect();
    await client.endAsync();
    const view = await deviceView(device.deviceId);
    expect(view.certificate?.daysLeft).toBe(6);
    expect(view.authMethod).toBe("x509CA");
  });
});

function systemClockLike(): Clock {
  return {
    now: () => Date.now(),
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}
