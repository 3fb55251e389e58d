import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { noopLogger } from "@skittlesorter/core";
import { generate, type IConnectPacket, type Packet, parser } from "mqtt-packet";
import { afterEach, describe, expect, it } from "vitest";
import { readConnect } from "../edge/first-packet.ts";
import { DeviceBroker, type DeviceBrokerOptions, type DeviceConnection } from "./broker.ts";

interface TestSession {
  user: string;
  subscribed?: 0 | 1 | undefined;
}

const FILTER = "$test/res/#";

/** A broker on a loopback TCP port that accepts user "ok", grants FILTER only and records requests. */
async function startBroker(
  overrides: Partial<DeviceBrokerOptions<TestSession>> = {},
  { handOverAfterConnect = false } = {},
) {
  const requests: { clientId: string; topic: string; payload: string }[] = [];
  const connections: DeviceConnection<TestSession>[] = [];
  const broker = new DeviceBroker<TestSession>({
    label: "test",
    logger: noopLogger,
    maxClientIdLength: 16,
    connectTimeoutMs: 10_000,
    connect: (_conn, packet) =>
      packet.username === "ok"
        ? { session: { user: packet.username } }
        : { returnCode: 4, reason: "bad user name" },
    subscribe(session, topic, qos) {
      if (topic !== FILTER) return undefined;
      session.subscribed = qos === 0 ? 0 : 1;
      return session.subscribed;
    },
    unsubscribe(session) {
      session.subscribed = undefined;
    },
    publish(connection, topic, payload) {
      connections.push(connection);
      requests.push({ clientId: connection.clientId, topic, payload: payload.toString() });
    },
    ...overrides,
  });
  const server: Server = createServer((socket) => {
    if (!handOverAfterConnect) broker.handle(socket);
    // As edge mode does: the CONNECT is read first, put back, and the paused connection handed over.
    else void readConnect(socket, 5_000).then(() => broker.handle(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  servers.push({ server, broker });
  return { broker, requests, connections, port: (server.address() as AddressInfo).port };
}

const servers: { server: Server; broker: DeviceBroker<TestSession> }[] = [];
afterEach(async () => {
  for (const { server, broker } of servers.splice(0)) {
    broker.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A raw MQTT client: sends packets, collects what comes back, knows when the server closed. */
async function client(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const received: Packet[] = [];
  const waiters: (() => void)[] = [];
  const packets = parser({ protocolVersion: 4 });
  packets.on("packet", (packet: Packet) => {
    received.push(packet);
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on("data", (chunk: Buffer) => packets.parse(chunk));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  return {
    socket,
    received,
    closed,
    send: (packet: Packet) => socket.write(generate(packet)),
    async next(cmd: Packet["cmd"]): Promise<Packet> {
      for (;;) {
        const index = received.findIndex((packet) => packet.cmd === cmd);
        if (index >= 0) return received.splice(index, 1)[0] as Packet;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

const connectPacket = (clientId: string, overrides: Partial<IConnectPacket> = {}): IConnectPacket => ({
  cmd: "connect",
  protocolId: "MQTT",
  protocolVersion: 4,
  clean: true,
  keepalive: 60,
  clientId,
  username: "ok",
  ...overrides,
});

async function connected(port: number, clientId: string, overrides: Partial<IConnectPacket> = {}) {
  const device = await client(port);
  device.send(connectPacket(clientId, overrides));
  expect(await device.next("connack")).toMatchObject({ returnCode: 0, sessionPresent: false });
  return device;
}

describe("DeviceBroker", () => {
  it("acknowledges a QoS 1 request with its packet id, hands it over, and answers on the granted subscription", async () => {
    const { port, requests, connections } = await startBroker();
    const device = await connected(port, "dev-1");
    device.send({
      cmd: "subscribe",
      messageId: 7,
      subscriptions: [
        { topic: FILTER, qos: 2 },
        { topic: "other/#", qos: 1 },
      ],
    });
    expect(await device.next("suback")).toMatchObject({ messageId: 7, granted: [1, 128] });
    device.send({
      cmd: "publish",
      topic: "$test/req",
      payload: "hello",
      qos: 1,
      messageId: 42,
      retain: false,
      dup: false,
    });
    expect(await device.next("puback")).toMatchObject({ messageId: 42 });
    expect(requests).toEqual([{ clientId: "dev-1", topic: "$test/req", payload: "hello" }]);

    const answered = connections[0] as DeviceConnection<TestSession>;
    answered.publish("$test/res/200", Buffer.from("a"), 1);
    answered.publish("$test/res/200", Buffer.from("b"), 1);
    const first = await device.next("publish");
    const second = await device.next("publish");
    expect(first).toMatchObject({ topic: "$test/res/200", qos: 1 });
    expect(second).toMatchObject({ qos: 1 });
    expect((second as { messageId: number }).messageId).not.toBe((first as { messageId: number }).messageId);
  });

  it("serves a connection handed over paused, its CONNECT already read and put back (edge mode)", async () => {
    const { port } = await startBroker({}, { handOverAfterConnect: true });
    const device = await connected(port, "dev-edge");
    device.send({ cmd: "pingreq" });
    await device.next("pingresp");
  });

  it("answers PINGREQ and UNSUBSCRIBE, and ends the connection on DISCONNECT", async () => {
    const { port } = await startBroker();
    const device = await connected(port, "dev-2");
    device.send({ cmd: "pingreq" });
    await device.next("pingresp");
    device.send({ cmd: "unsubscribe", messageId: 3, unsubscriptions: [FILTER] });
    expect(await device.next("unsuback")).toMatchObject({ messageId: 3 });
    device.send({ cmd: "disconnect" });
    await device.closed;
  });

  it.each([
    ["a wrong user name", connectPacket("dev-3", { username: "nope" }), 4],
    ["an empty client id", connectPacket(""), 2],
    ["a client id over the limit", connectPacket("x".repeat(17)), 2],
  ])(
    "refuses a CONNECT with %s: CONNACK return code, then the connection closes",
    async (_name, packet, code) => {
      const { port, requests } = await startBroker();
      const device = await client(port);
      device.send(packet);
      expect(await device.next("connack")).toMatchObject({ returnCode: code });
      await device.closed;
      expect(requests).toEqual([]);
    },
  );

  it("ignores whatever follows a refused CONNECT, even a good CONNECT in the same read", async () => {
    const { port } = await startBroker();
    const device = await client(port);
    device.socket.write(
      Buffer.concat([
        generate(connectPacket("dev-11", { username: "nope" })),
        generate(connectPacket("dev-11")),
      ]),
    );
    await device.closed;
    expect(
      device.received.map((packet) => [packet.cmd, (packet as { returnCode?: number }).returnCode]),
    ).toEqual([["connack", 4]]);
  });

  it("answers an MQTT version it does not speak with return code 1 (unacceptable protocol version)", async () => {
    const { port } = await startBroker();
    const device = await client(port);
    // An MQTT 3.1.1 parser reads this v5 CONNECT's CONNACK too: the 3.1.1 answer is two bytes.
    device.socket.write(generate(connectPacket("dev-4", { protocolVersion: 5 }), { protocolVersion: 5 }));
    expect(await device.next("connack")).toMatchObject({ returnCode: 1 });
    await device.closed;
  });

  it("closes a connection that sends anything before CONNECT, or a second CONNECT", async () => {
    const { port } = await startBroker();
    const early = await client(port);
    early.send({ cmd: "pingreq" });
    await early.closed;
    expect(early.received).toEqual([]);

    const twice = await connected(port, "dev-5");
    twice.send(connectPacket("dev-5"));
    await twice.closed;
  });

  it("closes the connection on a QoS 2 publish or a wildcard in a topic name, without handing it over", async () => {
    const { port, requests } = await startBroker();
    const qos2 = await connected(port, "dev-6");
    qos2.send({
      cmd: "publish",
      topic: "$test/req",
      payload: "x",
      qos: 2,
      messageId: 1,
      retain: false,
      dup: false,
    });
    await qos2.closed;
    const wildcard = await connected(port, "dev-7");
    wildcard.send({ cmd: "publish", topic: "$test/#", payload: "x", qos: 0, retain: false, dup: false });
    await wildcard.closed;
    expect(requests).toEqual([]);
  });

  it("lets a second connection with the same client id take over: the first is closed", async () => {
    const { port } = await startBroker();
    const first = await connected(port, "dev-8");
    const second = await connected(port, "dev-8");
    await first.closed;
    second.send({ cmd: "pingreq" });
    await second.next("pingresp");
  });

  it("closes connections silent for 1.5 keep-alive periods, and those that never send CONNECT", async () => {
    const { port } = await startBroker({ connectTimeoutMs: 100 });
    const silent = await client(port);
    await silent.closed;
    const idle = await connected(port, "dev-9", { keepalive: 1 });
    const since = Date.now();
    await idle.closed;
    // Not a timing claim: the close must come from the keep-alive timer, not from anything earlier.
    expect(Date.now() - since).toBeGreaterThanOrEqual(1000);
  });

  it("drops every connection on close and refuses later ones", async () => {
    const { port, broker } = await startBroker();
    const device = await connected(port, "dev-10");
    broker.close();
    await device.closed;
    const late = await client(port);
    await late.closed;
  });
});
