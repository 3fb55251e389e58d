import { describe, expect, it } from "vitest";
import { provisionDevice, waitFor } from "../sim.test-support.ts";
import {
  deviceConnection,
  deviceSas,
  officialSasClient,
  rawHub,
  restartableSim,
} from "./hub-features.test-support.ts";

// The Node device SDK connects with clean: false and, after a reconnect, never subscribes to the twin topics again:
// the hub must keep those subscriptions, across a restart of the simulator too.
describe("persistent MQTT sessions", () => {
  it("keep an unmodified azure-iot-device client's twin and method subscriptions across a simulator restart", async () => {
    await using sims = await restartableSim();
    const device = await provisionDevice(sims.sim, "session-official-01");
    const client = await officialSasClient(sims.sim, device);
    try {
      const twin = await client.getTwin();
      const desired: Record<string, unknown>[] = [];
      twin.on("properties.desired", (delta: Record<string, unknown>) => desired.push(delta));
      client.onDeviceMethod("ping", (request, response) => {
        void response.send(200, { pong: request.payload });
      });
      await waitFor("the twin and method subscriptions", async () => {
        const { subscriptions } = await deviceConnection(sims.sim, device.deviceId);
        return subscriptions.includes("desiredUpdates") && subscriptions.includes("methods")
          ? true
          : undefined;
      });

      const sim = await sims.restart();
      await waitFor(
        "the device to reconnect",
        async () =>
          (await deviceConnection(sim, device.deviceId)).connectionState === "Connected" ? true : undefined,
        60_000,
      );
      await sim.admin.request("PATCH", `/admin/devices/${device.deviceId}/twin`, {
        body: { properties: { desired: { afterRestart: 7 } } },
      });
      await waitFor("the desired update after the restart", () =>
        desired.some((delta) => delta.afterRestart === 7) ? true : undefined,
      );
      const answer = await sim.admin.request<{ status: number; payload: unknown }>(
        "POST",
        `/admin/devices/${device.deviceId}/methods`,
        {
          body: { methodName: "ping", payload: 1, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 10 },
        },
      );
      expect(answer.body).toEqual({ status: 200, payload: { pong: 1 } });
    } finally {
      await client.close();
    }
  });

  it("answer CONNACK with sessionPresent for a clean: false client the hub knows, and forget a clean session", async () => {
    await using sims = await restartableSim();
    const device = await provisionDevice(sims.sim, "session-raw-01");
    const connect = (clean: boolean) =>
      rawHub(sims.sim, { clientId: device.deviceId, password: deviceSas(device), clean });

    const first = await connect(false);
    await first.subscribeAsync("$iothub/twin/res/#", { qos: 0 });
    await first.endAsync();

    await sims.restart();
    const second = await connect(false);
    try {
      expect(second.sessionPresent).toBe(true);
      // No SUBSCRIBE: the restored session routes the twin answer.
      const answered = new Promise<string>((resolve) => second.on("message", (topic) => resolve(topic)));
      await second.publishAsync("$iothub/twin/GET/?$rid=after-restart", "", { qos: 0 });
      expect(await answered).toBe("$iothub/twin/res/200/?$rid=after-restart");
    } finally {
      await second.endAsync();
    }

    const sessionPresent = async (clean: boolean): Promise<boolean> => {
      const client = await connect(clean);
      await client.endAsync();
      return client.sessionPresent;
    };
    expect(await sessionPresent(false)).toBe(true);
    expect(await sessionPresent(true)).toBe(false);
    expect(await sessionPresent(false)).toBe(false);
  });

  it("deliver a cloud-to-device message queued while a persistent session was offline, across a restart", async () => {
    await using sims = await restartableSim();
    const device = await provisionDevice(sims.sim, "session-c2d-01");
    const connect = () =>
      rawHub(sims.sim, { clientId: device.deviceId, password: deviceSas(device), clean: false });
    const first = await connect();
    await first.subscribeAsync(`devices/${device.deviceId}/messages/devicebound/#`, { qos: 1 });
    await first.endAsync();
    await sims.sim.admin.sendCloudToDeviceMessage(device.deviceId, { body: "kept", messageId: "offline-1" });

    const sim = await sims.restart();
    const client = await connect();
    try {
      // No SUBSCRIBE: the session kept the devicebound subscription; the message comes at QoS 1.
      const [topic, payload, packet] = await new Promise<[string, Buffer, { qos: number }]>((resolve) =>
        client.once("message", (...args) => resolve(args as [string, Buffer, { qos: number }])),
      );
      expect(topic).toMatch(
        new RegExp(`^devices/${device.deviceId}/messages/devicebound/%24\\.mid=offline-1&`),
      );
      expect(payload.toString()).toBe("kept");
      expect(packet.qos).toBe(1);
      await waitFor("the completion", async () => {
        const [message] = await sim.admin.listCloudToDeviceMessages(device.deviceId);
        return message?.state === "completed" ? true : undefined;
      });
    } finally {
      await client.endAsync();
    }
  });
});
