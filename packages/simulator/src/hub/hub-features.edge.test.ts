// Issue 16's acceptance for C2D, modules and persistent sessions: unmodified official packages (`azure-iot-device`,
// `azure-iothub`) against a simulator in edge mode (`localhost`, no port, no `ca` option: the root is trusted through
// NODE_EXTRA_CA_CERTS, as users do).
import { tempDir } from "@skittlesorter/test-utils";
import { edgeTlsRoot } from "@skittlesorter/test-utils/edge";
import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import iothub from "azure-iothub";
import { describe, expect, it } from "vitest";
import { waitFor } from "../sim.test-support.ts";
import type { Simulator } from "../simulator.ts";
import { startEdgeSimulator } from "../testing/index.ts";

const { Client: DeviceClient, ModuleClient, Message } = deviceSdk;
const { Mqtt } = mqttTransport;
const { Registry, Client: ServiceClient } = iothub;

interface ReceivedMessage {
  data: Buffer;
  messageId?: string;
  properties: { propertyList: { key: string; value: string }[] };
}

type OfficialDeviceClient = InstanceType<typeof DeviceClient>;

/** The next message the official client's `message` event delivers, after completing it. */
function nextMessage(client: OfficialDeviceClient): Promise<ReceivedMessage> {
  return new Promise((resolve, reject) => {
    client.once("message", (message: ReceivedMessage) => {
      client.complete(message as never, (error?: Error) => (error ? reject(error) : resolve(message)));
    });
  });
}

const serviceConnectionString = (sim: Simulator): string => sim.config.hubs[0]?.serviceConnectionString ?? "";

/** Creates a SAS device through the official Registry; returns its connection string for host `localhost`. */
async function createDevice(sim: Simulator, deviceId: string): Promise<string> {
  const registry = Registry.fromConnectionString(serviceConnectionString(sim));
  const { responseBody: device } = await registry.create({ deviceId });
  const key = device.authentication?.symmetricKey?.primaryKey ?? "";
  return `HostName=localhost;DeviceId=${deviceId};SharedAccessKey=${key}`;
}

/** Waits until the device's (or `deviceId/modules/moduleId`'s) connection subscribed to every one of `what`. */
function subscribed(sim: Simulator, path: string, ...what: string[]): Promise<true> {
  return waitFor(`${path} subscribed to ${what.join(", ")}`, async () => {
    const { subscriptions } = await sim.admin.get<{ subscriptions: string[] }>(`/admin/devices/${path}`);
    return what.every((subscription) => subscriptions.includes(subscription)) ? true : undefined;
  });
}

const messageStates = async (sim: Simulator, deviceId: string) =>
  (await sim.admin.listCloudToDeviceMessages(deviceId)).map((message) => [message.messageId, message.state]);

describe("hub features with the official clients in edge mode", () => {
  it("azure-iot-device receives a C2D message through `message` and completes it; one sent offline arrives on connect", {
    timeout: 90_000,
  }, async () => {
    await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    const connectionString = await createDevice(sim, "edge-c2d-01");
    const client = DeviceClient.fromConnectionString(connectionString, Mqtt);
    await client.open();
    try {
      const received = nextMessage(client);
      await subscribed(sim, "edge-c2d-01", "cloudToDevice");
      await sim.admin.sendCloudToDeviceMessage("edge-c2d-01", {
        body: "sort red",
        messageId: "edge-online",
        properties: { bin: "3" },
      });
      const message = await received;
      expect(message.data.toString()).toBe("sort red");
      expect(message.messageId).toBe("edge-online");
      expect(message.properties.propertyList).toEqual([{ key: "bin", value: "3" }]);
      await waitFor("the completion", async () =>
        (await messageStates(sim, "edge-c2d-01")).some(
          ([id, state]) => id === "edge-online" && state === "completed",
        )
          ? true
          : undefined,
      );
    } finally {
      await client.close();
    }

    await sim.admin.sendCloudToDeviceMessage("edge-c2d-01", {
      body: "while away",
      messageId: "edge-offline",
    });
    expect(await messageStates(sim, "edge-c2d-01")).toContainEqual(["edge-offline", "enqueued"]);
    const later = DeviceClient.fromConnectionString(connectionString, Mqtt);
    const waiting = nextMessage(later);
    await later.open();
    try {
      const message = await waiting;
      expect(message.data.toString()).toBe("while away");
      expect(message.messageId).toBe("edge-offline");
      await waitFor("the completion", async () =>
        (await messageStates(sim, "edge-c2d-01")).some(
          ([id, state]) => id === "edge-offline" && state === "completed",
        )
          ? true
          : undefined,
      );
    } finally {
      await later.close();
    }
  });

  it("ModuleClient: a module created by Registry.addModule sends telemetry, uses its twin and answers a method", {
    timeout: 90_000,
  }, async () => {
    await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    const registry = Registry.fromConnectionString(serviceConnectionString(sim));
    const service = ServiceClient.fromConnectionString(serviceConnectionString(sim));
    await createDevice(sim, "edge-module-host");
    await registry.addModule({ deviceId: "edge-module-host", moduleId: "sorter" });
    const { responseBody: module } = await registry.getModule("edge-module-host", "sorter");
    const key = module.authentication?.symmetricKey?.primaryKey ?? "";
    expect(key).not.toBe("");
    const client = ModuleClient.fromConnectionString(
      `HostName=localhost;DeviceId=edge-module-host;ModuleId=sorter;SharedAccessKey=${key}`,
      Mqtt,
    );
    await client.open();
    try {
      const event = new Message("module telemetry");
      event.properties.add("stage", "sort");
      await client.sendEvent(event);
      const [stored] = (await sim.admin.listTelemetry({ device: "edge-module-host" })).filter(
        (message) => message.body === "module telemetry",
      );
      expect(stored).toMatchObject({
        properties: { stage: "sort" },
        systemProperties: { connectionDeviceId: "edge-module-host", connectionModuleId: "sorter" },
      });

      const twin = await client.getTwin();
      await new Promise<void>((resolve, reject) =>
        twin.properties.reported.update({ speed: 3 }, (error?: Error) => (error ? reject(error) : resolve())),
      );
      const { responseBody: served } = await registry.getModuleTwin("edge-module-host", "sorter");
      expect(served.properties.reported).toMatchObject({ speed: 3 });

      const desired = new Promise<Record<string, unknown>>((resolve) =>
        twin.on("properties.desired", (delta: Record<string, unknown>) => {
          if (delta.threshold === 12) resolve(structuredClone(delta));
        }),
      );
      client.onMethod("reset", (request, response) => {
        // ModuleClient's typings make both optional; the SDK always passes them.
        void response?.send(200, { reset: request?.payload });
      });
      await subscribed(sim, "edge-module-host/modules/sorter", "desiredUpdates", "methods");
      await registry.updateModuleTwin(
        "edge-module-host",
        "sorter",
        { properties: { desired: { threshold: 12 } } },
        served.etag,
      );
      expect(await desired).toMatchObject({ threshold: 12 });

      const { result } = await service.invokeDeviceMethod("edge-module-host", "sorter", {
        methodName: "reset",
        payload: "all",
        responseTimeoutInSeconds: 10,
      });
      expect(result).toEqual({ status: 200, payload: { reset: "all" } });
    } finally {
      await client.close();
    }
  });

  it("a clean: false azure-iot-device client gets a desired update and a method call after a simulator restart", {
    timeout: 120_000,
  }, async () => {
    await using dir = await tempDir("skittle-sim-edge-restart-");
    const tlsRoot = edgeTlsRoot();
    let sim = await startEdgeSimulator({ tlsRoot, dataDir: dir.path });
    const client = DeviceClient.fromConnectionString(await createDevice(sim, "edge-session-01"), Mqtt);
    await client.open(); // the SDK's MQTT transport connects with clean: false unless told otherwise
    try {
      const twin = await client.getTwin();
      const desired: Record<string, unknown>[] = [];
      twin.on("properties.desired", (delta: Record<string, unknown>) => desired.push(structuredClone(delta)));
      client.onDeviceMethod("ping", (request, response) => {
        void response.send(200, { pong: request.payload });
      });
      await subscribed(sim, "edge-session-01", "desiredUpdates", "methods");

      await sim.close();
      sim = await startEdgeSimulator({ tlsRoot, dataDir: dir.path });
      await waitFor(
        "the device to reconnect",
        async () =>
          (await sim.admin.get<{ connectionState: string }>("/admin/devices/edge-session-01"))
            .connectionState === "Connected"
            ? true
            : undefined,
        60_000,
      );
      const registry = Registry.fromConnectionString(serviceConnectionString(sim));
      await registry.updateTwin("edge-session-01", { properties: { desired: { afterRestart: 7 } } }, "*");
      await waitFor("the desired update after the restart", () =>
        desired.some((delta) => delta.afterRestart === 7) ? true : undefined,
      );
      const service = ServiceClient.fromConnectionString(serviceConnectionString(sim));
      const { result } = await service.invokeDeviceMethod("edge-session-01", {
        methodName: "ping",
        payload: 1,
        responseTimeoutInSeconds: 10,
      });
      expect(result).toEqual({ status: 200, payload: { pong: 1 } });
    } finally {
      await client.close();
      await sim.close();
    }
  });
});
