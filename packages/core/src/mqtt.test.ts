import { once } from "node:events";
import { createServer, type Server } from "node:net";
import type { Aedes } from "aedes";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endMqttClient, type MqttEndpointOptions, packageUserAgent, resolveMqttEndpoint } from "./index.ts";

const invalid = (message: string): Error => new RangeError(message);

describe("resolveMqttEndpoint", () => {
  it("defaults to mqtts on 8883 (wss on 443) with a 60 s keep-alive", () => {
    expect(resolveMqttEndpoint({}, invalid)).toEqual({
      transport: "mqtts",
      port: 8883,
      keepAliveSeconds: 60,
      ca: undefined,
    });
    expect(resolveMqttEndpoint({ transport: "wss", keepAliveSeconds: 0 }, invalid)).toMatchObject({
      transport: "wss",
      port: 443,
      keepAliveSeconds: 0,
    });
  });

  it.each([
    [
      { transport: "tcp" } as unknown as MqttEndpointOptions,
      'transport must be "mqtts" or "wss", got "tcp".',
    ],
    [{ port: 0 }, "port must be an integer from 1 to 65535, got 0."],
    [{ port: 8883.5 }, "port must be an integer from 1 to 65535, got 8883.5."],
    [{ keepAliveSeconds: 70_000 }, "keepAliveSeconds must be an integer from 0 to 65535, got 70000."],
  ])("throws the caller's error naming the bad option (%o)", (options, message) => {
    expect(() => resolveMqttEndpoint(options, invalid)).toThrow(new RangeError(message));
  });

  it("gives mqtt a ca list of one kind: strings stay strings, a mixed list becomes buffers", () => {
    const pem = "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n";
    expect(resolveMqttEndpoint({ ca: pem }, invalid).ca).toBe(pem);
    expect(resolveMqttEndpoint({ ca: [pem, pem] }, invalid).ca).toEqual([pem, pem]);
    expect(resolveMqttEndpoint({ ca: [pem, Buffer.from(pem)] }, invalid).ca).toEqual([
      Buffer.from(pem),
      Buffer.from(pem),
    ]);
  });
});

describe("packageUserAgent", () => {
  it("names the product and the version of its package.json", () => {
    expect(packageUserAgent("skittlesorter-core", new URL("../package.json", import.meta.url))).toBe(
      "skittlesorter-core/0.0.0",
    );
  });

  it("falls back to 0.0.0 when the package.json cannot be read", () => {
    expect(packageUserAgent("nowhere", new URL("../no-such-package.json", import.meta.url))).toBe(
      "nowhere/0.0.0",
    );
  });
});

describe("endMqttClient (aedes over loopback)", () => {
  let broker: Aedes;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    const { Aedes: AedesClass } = await import("aedes");
    broker = await AedesClass.createBroker();
    server = createServer((socket) => broker.handle(socket));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function connected(): Promise<MqttClient> {
    return connectAsync({ host: "127.0.0.1", port, reconnectPeriod: 0 });
  }

  it("ends a live connection gracefully: the broker sees DISCONNECT, not a dropped socket", async () => {
    const client = await connected();
    const [brokerClient] = await Promise.all([
      once(broker, "clientDisconnect").then(([disconnected]) => disconnected as { id: string }),
      endMqttClient(client),
    ]);
    expect(brokerClient.id).toBe(client.options.clientId);
    expect(client.disconnected).toBe(true);
  });

  it("drops the socket when forced, without sending DISCONNECT", async () => {
    const client = await connected();
    const sent: string[] = [];
    client.on("packetsend", (packet) => sent.push(packet.cmd));
    await endMqttClient(client, { force: true });
    expect(client.disconnecting).toBe(true);
    expect(client.stream.destroyed).toBe(true);
    expect(sent).not.toContain("disconnect");
  });

  it("drops the socket of a client that is not connected", async () => {
    const client = await connected();
    client.stream.destroy();
    await new Promise<void>((resolve) => client.once("close", () => resolve()));
    const sent: string[] = [];
    client.on("packetsend", (packet) => sent.push(packet.cmd));
    await endMqttClient(client);
    expect(client.disconnecting).toBe(true);
    expect(sent).not.toContain("disconnect");
  });
});
