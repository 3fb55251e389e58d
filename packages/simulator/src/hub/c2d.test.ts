import { type Clock, systemClock } from "@skittlesorter/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminClient } from "../admin/client.ts";
import {
  type ProvisionedDevice,
  provisionDevice,
  runCli,
  startTestSim,
  type TestSim,
  waitFor,
} from "../sim.test-support.ts";
import type { CloudToDeviceView } from "./c2d-routes.ts";
import { type DeviceClient, deviceSas, officialSasClient, rawHub } from "./hub-features.test-support.ts";

interface ReceivedMessage {
  data: Buffer;
  messageId?: string;
  correlationId?: string;
  expiryTimeUtc?: string;
  to?: string;
  properties: { propertyList: { key: string; value: string }[] };
}

/** Resolves with the next message the official client's `message` event delivers, after completing it. */
function nextMessage(client: DeviceClient): Promise<ReceivedMessage> {
  return new Promise((resolve, reject) => {
    client.once("message", (message: ReceivedMessage) => {
      client.complete(message as never, (error?: Error) => (error ? reject(error) : resolve(message)));
    });
  });
}

const messagesOf = (admin: AdminClient, deviceId: string) => admin.listCloudToDeviceMessages(deviceId);

describe("cloud-to-device messages over MQTT", () => {
  let sim: TestSim;
  let device: ProvisionedDevice;
  // The hub's clock runs `offset` ms ahead of real time: tests move it to expire messages.
  let offset = 0;
  const clock: Clock = { ...systemClock, now: () => Date.now() + offset };

  beforeAll(async () => {
    sim = await startTestSim({ clock });
    device = await provisionDevice(sim, "c2d-official-01");
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("reach azure-iot-device's message event with their properties, and a PUBACK completes them", async () => {
    const client = await officialSasClient(sim, device);
    try {
      const received = nextMessage(client);
      await waitFor("the devicebound subscription", async () =>
        (await sim.admin.getDevice(device.deviceId)).subscriptions.includes("cloudToDevice")
          ? true
          : undefined,
      );
      const sent = await sim.admin.sendCloudToDeviceMessage(device.deviceId, {
        body: JSON.stringify({ sort: "red" }),
        messageId: "c2d-1",
        correlationId: "corr/1",
        contentType: "application/json",
        properties: { color: "r&d=x", "bin-no": "3" },
        ttlSeconds: 600,
      });
      const message = await received;
      expect(message.data.toString()).toBe(JSON.stringify({ sort: "red" }));
      expect(message).toMatchObject({
        messageId: "c2d-1",
        correlationId: "corr/1",
        to: `/devices/${device.deviceId}/messages/deviceBound`,
        expiryTimeUtc: sent.expiryTimeUtc,
      });
      expect(message.properties.propertyList).toEqual([
        { key: "color", value: "r&d=x" },
        { key: "bin-no", value: "3" },
      ]);
      await waitFor("the completion", async () => {
        const [listed] = await messagesOf(sim.admin, device.deviceId);
        return listed?.state === "completed" ? listed : undefined;
      });
      const [listed] = await messagesOf(sim.admin, device.deviceId);
      expect(listed).toMatchObject({
        messageId: "c2d-1",
        deliveryCount: 1,
        body: JSON.stringify({ sort: "red" }),
      });
    } finally {
      await client.close();
    }
  });

  it("queue while the device is offline and deliver when it connects; the CLI sends and lists them", async () => {
    const sent = await runCli([
      "c2d",
      "send",
      device.deviceId,
      "--property",
      "kind=offline",
      "--message-id",
      "c2d-offline",
      "--ttl-seconds",
      "120",
      "while you were away",
      "--data-dir",
      sim.dir.path,
    ]);
    expect(sent.stderr).toBe("");
    expect(sent.code).toBe(0);
    const queued = await messagesOf(sim.admin, device.deviceId);
    expect(queued.at(-1)).toMatchObject({ messageId: "c2d-offline", state: "enqueued", deliveryCount: 0 });

    const client = await officialSasClient(sim, device);
    try {
      const received = nextMessage(client);
      const message = await received;
      expect(message.data.toString()).toBe("while you were away");
      expect(message.properties.propertyList).toEqual([{ key: "kind", value: "offline" }]);
      await waitFor("the completion", async () =>
        (await messagesOf(sim.admin, device.deviceId)).at(-1)?.state === "completed" ? true : undefined,
      );
    } finally {
      await client.close();
    }
    const listed = await runCli(["c2d", "list", device.deviceId, "--data-dir", sim.dir.path]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/c2d-offline\s+completed/);
  });

  it("dead-letters expired messages and those delivered too often, and refuses the 51st waiting message", async () => {
    const other = await provisionDevice(sim, "c2d-raw-01");
    const expiring = await sim.admin.sendCloudToDeviceMessage(other.deviceId, {
      body: "soon gone",
      ttlSeconds: 60,
    });
    offset += 61_000;
    const afterExpiry = await messagesOf(sim.admin, other.deviceId);
    expect(afterExpiry.find((m) => m.sequenceNumber === expiring.sequenceNumber)).toMatchObject({
      state: "deadLettered",
      deadLetterReason: "expired",
    });

    // A device that never acknowledges: each connection gets the message once more, up to 10 deliveries.
    const stubborn = await sim.admin.sendCloudToDeviceMessage(other.deviceId, { body: "ack me" });
    for (let delivery = 1; delivery <= 10; delivery++) {
      const client = await rawHub(sim, { clientId: other.deviceId, password: deviceSas(other), clean: true });
      // No PUBACK: the message handler never calls back.
      client.handleMessage = () => {};
      const got = new Promise((resolve) => client.once("message", resolve));
      await client.subscribeAsync(`devices/${other.deviceId}/messages/devicebound/#`, { qos: 1 });
      await got;
      await client.endAsync(true);
      await waitFor("the redelivery state", async () => {
        const state = (await messagesOf(sim.admin, other.deviceId)).find(
          (m) => m.sequenceNumber === stubborn.sequenceNumber,
        );
        return state?.state !== "invisible" ? state : undefined;
      });
    }
    const dead = (await messagesOf(sim.admin, other.deviceId)).find(
      (m): m is CloudToDeviceView => m.sequenceNumber === stubborn.sequenceNumber,
    );
    expect(dead).toMatchObject({
      state: "deadLettered",
      deadLetterReason: "deliveryCountExceeded",
      deliveryCount: 10,
    });
    const events =
      await sim.admin.get<{ kind: string; subject: string; details: Record<string, unknown> }[]>(
        "/admin/events?limit=500",
      );
    const deadLettered = events.filter(
      (event) => event.kind === "hub.c2dDeadLettered" && event.subject === other.deviceId,
    );
    expect(deadLettered.map((event) => event.details.reason).sort()).toEqual([
      "deliveryCountExceeded",
      "expired",
    ]);

    for (let index = 0; index < 50; index++) {
      await sim.admin.sendCloudToDeviceMessage(other.deviceId, { body: `m${index}` });
    }
    await expect(
      sim.admin.sendCloudToDeviceMessage(other.deviceId, { body: "one too many" }),
    ).rejects.toMatchObject({
      statusCode: 403,
      errorCode: "DeviceMaximumQueueDepthExceeded",
    });
    await expect(
      sim.admin.sendCloudToDeviceMessage(other.deviceId, { body: "x", ttlSeconds: 48 * 3600 + 1 }),
    ).rejects.toMatchObject({ statusCode: 400, errorCode: "INVALID_MESSAGE" });
  });
});
