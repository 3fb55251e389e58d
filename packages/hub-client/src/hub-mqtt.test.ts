// The hub-mqtt connector against skittle-sim's IoT Hub (real MQTT over TLS on loopback), X.509 and SAS: the same
// conformance suite as the official adapter (azure-iot-device.test.ts), then its own errors and reconnect mode.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectErrorCases } from "./connect-errors.test-support.ts";
import { type HubClientError, type HubCredentials, hubMqttConnector } from "./index.ts";
import { type SimHub, simHarness, startSimHub } from "./sim.test-support.ts";
import { hubClientConformance } from "./testing.ts";

let simHub: SimHub;
const devices: Partial<Record<HubCredentials["type"], HubCredentials>> = {};

beforeAll(async () => {
  simHub = await startSimHub();
  devices.x509 = await simHub.provisionDevice("hub-mqtt-x509", "x509");
  devices.sas = await simHub.provisionDevice("hub-mqtt-sas", "sas");
}, 120_000);

afterAll(async () => {
  await simHub?.close();
});

const connector = () => hubMqttConnector({ ca: simHub.ca, connectTimeoutMs: 20_000 });

for (const type of ["x509", "sas"] as const) {
  describe(`hubMqttConnector on skittle-sim (${type}): hub client conformance`, () => {
    for (const check of hubClientConformance(() =>
      simHarness(simHub, connector(), devices[type] as HubCredentials),
    )) {
      it(check.name, () => check.run());
    }
  });
}

describe("hubMqttConnector errors", () => {
  connectErrorCases({
    simHub: () => simHub,
    devices: () => ({
      x509: devices.x509 as HubCredentials,
      sas: devices.sas as HubCredentials & { type: "sas" },
    }),
    connector: (options) => hubMqttConnector(options),
  });

  it("refuses unusable options and credentials with HUB_INVALID_OPTION, naming what is wrong", async () => {
    expect(() => hubMqttConnector({ operationTimeoutMs: 0 })).toThrow(
      /operationTimeoutMs must be a positive/,
    );
    expect(() => hubMqttConnector({ transport: "tcp" as "wss" })).toThrow(
      /transport must be "mqtts" or "wss"/,
    );
    await expect(
      connector().connect({ ...(devices.sas as HubCredentials), deviceId: "a;b" }),
    ).rejects.toMatchObject({ code: "HUB_INVALID_OPTION" });
    // hub-mqtt's own check: the certificate is for another device.
    await expect(
      connector().connect({ ...(devices.x509 as HubCredentials), deviceId: "someone-else" }),
    ).rejects.toMatchObject({
      code: "HUB_INVALID_OPTION",
      reason: "HUB_INVALID_OPTIONS",
      message: expect.stringContaining("CN"),
    });
  });
});

describe("hubMqttConnector with reconnect: true", () => {
  it("rides out a lost connection without onDisconnect: a send waits for the reconnect and is stored", async () => {
    const device = devices.sas as HubCredentials;
    const harness = await simHarness(
      simHub,
      hubMqttConnector({ ca: simHub.ca, reconnect: true, initialBackoffMs: 50, maxBackoffMs: 200 }),
      device,
    );
    const tag = `r${Date.now()}`;
    const connection = await harness.connector.connect(device);
    const lost: HubClientError[] = [];
    connection.onDisconnect((error) => lost.push(error));
    try {
      await connection.send({ body: "before", messageId: `${tag}-before` });
      await harness.interrupt();
      await connection.send({ body: "after", messageId: `${tag}-after` });
      await connection.reportTwin({ [tag]: "after the reconnect" });
    } finally {
      await connection.close();
    }
    expect(lost).toEqual([]);
    const ids = (await harness.telemetry())
      .map((message) => message.messageId)
      .filter((id) => id?.startsWith(`${tag}-`));
    expect(ids).toEqual([`${tag}-before`, `${tag}-after`]);
    expect((await harness.reported())[tag]).toBe("after the reconnect");
  });
});

describe("hubMqttConnector close and breaks", () => {
  // Both ends count (the simulator and the proxy run in this process); TLS sockets show as TCPSocketWrap.
  const openSockets = () =>
    process.getActiveResourcesInfo().filter((kind) => kind === "TCPSocketWrap").length;
  const settled = async (before: number) => {
    for (let i = 0; i < 50 && openSockets() > before; i++) await new Promise((r) => setTimeout(r, 100));
    return openSockets();
  };

  it("leaves no socket open and calls no listener when closed while the desired properties are being read", async () => {
    const before = openSockets();
    const connection = await connector().connect(devices.x509 as HubCredentials);
    const desired: unknown[] = [];
    connection.onDesired((patch) => desired.push(patch));
    await connection.close();
    expect(await settled(before)).toBeLessThanOrEqual(before);
    expect(desired).toEqual([]);
  });

  it("stops hub-mqtt after reporting a lost connection: it does not reconnect behind the caller", async () => {
    const before = openSockets();
    const connection = await hubMqttConnector({
      ca: simHub.ca,
      initialBackoffMs: 0,
      maxBackoffMs: 0,
    }).connect(devices.sas as HubCredentials);
    const lost = new Promise<HubClientError>((resolve) => connection.onDisconnect(resolve));
    simHub.interrupt();
    expect((await lost).code).toBe("HUB_UNREACHABLE");
    // Without the stop, hub-mqtt reconnects at once (no backoff) and keeps four sockets open here (client, proxy
    // both ends, simulator); give it a moment to try, as the official adapter's close test does.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await settled(before)).toBeLessThanOrEqual(before);
    await connection.close();
  });
});
