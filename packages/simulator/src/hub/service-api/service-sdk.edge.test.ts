// Issue 16's acceptance for the hub's service side: the unmodified official `azure-iothub` package (Registry, Client)
// against a simulator in edge mode (`localhost`, port 443; the root trusted through NODE_EXTRA_CA_CERTS, as users do),
// with an unmodified `azure-iot-device` client on the device side.
import { edgeTlsRoot } from "@skittlesorter/test-utils/edge";
import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import iothub from "azure-iothub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../sim.test-support.ts";
import type { Simulator } from "../../simulator.ts";
import { startEdgeSimulator } from "../../testing/index.ts";

const { Client: DeviceClient } = deviceSdk;
const { Mqtt } = mqttTransport;
const { Registry, Client: ServiceClient } = iothub;

interface HubError {
  name: string;
  response?: { statusCode: number };
  responseBody?: string;
}

describe("azure-iothub against the simulator in edge mode", () => {
  let sim: Simulator;
  let registry: InstanceType<typeof Registry>;
  let service: InstanceType<typeof ServiceClient>;

  /** Creates a SAS device through the Registry and connects the official device client with its generated key. */
  const connectedDevice = async (deviceId: string) => {
    const { responseBody: device } = await registry.create({ deviceId });
    const key = device.authentication?.symmetricKey?.primaryKey ?? "";
    const client = DeviceClient.fromConnectionString(
      `HostName=localhost;DeviceId=${deviceId};SharedAccessKey=${key}`,
      Mqtt,
    );
    await client.open();
    return client;
  };

  const subscribed = (deviceId: string, what: string) =>
    waitFor(`${deviceId} subscribed to ${what}`, async () =>
      (await sim.admin.get<{ subscriptions: string[] }>(`/admin/devices/${deviceId}`)).subscriptions.includes(
        what,
      )
        ? true
        : undefined,
    );

  beforeAll(async () => {
    sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    const connectionString = sim.config.hubs[0]?.serviceConnectionString ?? "";
    expect(connectionString).toMatch(/^HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=/);
    registry = Registry.fromConnectionString(connectionString);
    service = ServiceClient.fromConnectionString(connectionString);
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("Registry creates, gets, lists, updates and deletes a device", async () => {
    const { responseBody: created } = await registry.create({ deviceId: "edge-svc-crud" });
    expect(created).toMatchObject({ deviceId: "edge-svc-crud", status: "enabled" });
    expect(created.authentication?.symmetricKey?.primaryKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    await expect(registry.create({ deviceId: "edge-svc-crud" })).rejects.toMatchObject({
      name: "DeviceAlreadyExistsError",
    });

    const { responseBody: read } = await registry.get("edge-svc-crud");
    expect(read.etag).toBe(created.etag);
    const { responseBody: listed } = await registry.list();
    expect(listed.map((device) => device.deviceId)).toContain("edge-svc-crud");

    const { responseBody: updated } = await registry.update({ ...read, status: "disabled" });
    expect(updated.status).toBe("disabled");
    expect(updated.authentication?.symmetricKey).toEqual(created.authentication?.symmetricKey);

    await registry.delete("edge-svc-crud");
    await expect(registry.get("edge-svc-crud")).rejects.toMatchObject({ name: "DeviceNotFoundError" });
  });

  it("Registry refuses a wrong key with UnauthorizedError", async () => {
    const wrong = Registry.fromConnectionString(
      `HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=${Buffer.alloc(32, 3).toString("base64")}`,
    );
    await expect(wrong.list()).rejects.toMatchObject({ name: "UnauthorizedError" });
  });

  it("getTwin and updateTwin reach a connected azure-iot-device client", async () => {
    const client = await connectedDevice("edge-svc-twin");
    try {
      const deviceTwin = await client.getTwin();
      const desired = new Promise<Record<string, unknown>>((resolve) =>
        deviceTwin.on("properties.desired", (delta: Record<string, unknown>) => {
          if (delta.interval === 5) resolve(structuredClone(delta));
        }),
      );
      await subscribed("edge-svc-twin", "desiredUpdates");
      const { responseBody: twin } = await registry.getTwin("edge-svc-twin");
      expect(twin.deviceId).toBe("edge-svc-twin");
      const { responseBody: updated } = await registry.updateTwin(
        "edge-svc-twin",
        { tags: { site: "lab" }, properties: { desired: { interval: 5 } } },
        twin.etag,
      );
      expect(updated.tags).toEqual({ site: "lab" });
      expect(await desired).toMatchObject({ interval: 5 });
      // A stale etag is refused as IoT Hub refuses it.
      await expect(
        registry.updateTwin("edge-svc-twin", { properties: { desired: { interval: 6 } } }, twin.etag),
      ).rejects.toMatchObject({ name: "InvalidEtagError" });
    } finally {
      await client.close();
    }
  });

  it("Client.invokeDeviceMethod: a round trip, IoT Hub's timeout, and a device that is offline", {
    timeout: 60_000,
  }, async () => {
    const client = await connectedDevice("edge-svc-method");
    try {
      client.onDeviceMethod("calibrate", (request, response) => {
        void response.send(200, { echo: request.payload });
      });
      client.onDeviceMethod("hang", () => {
        // never answers
      });
      await subscribed("edge-svc-method", "methods");
      const { result } = await service.invokeDeviceMethod("edge-svc-method", {
        methodName: "calibrate",
        payload: { white: 812 },
        responseTimeoutInSeconds: 10,
      });
      expect(result).toEqual({ status: 200, payload: { echo: { white: 812 } } });

      const late = (await service
        .invokeDeviceMethod("edge-svc-method", { methodName: "hang", responseTimeoutInSeconds: 5 })
        .then(
          () => undefined,
          (error: unknown) => error,
        )) as HubError;
      expect(late).toMatchObject({ name: "GatewayTimeoutError", response: { statusCode: 504 } });
      expect(late.responseBody).toContain("504101");
    } finally {
      await client.close();
    }
    const offline = (await service
      .invokeDeviceMethod("edge-svc-method", { methodName: "calibrate", responseTimeoutInSeconds: 5 })
      .then(
        () => undefined,
        (error: unknown) => error,
      )) as HubError;
    expect(offline.response?.statusCode).toBe(404);
    expect(offline.responseBody).toContain("404103");
  });
});
