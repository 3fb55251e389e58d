import type { Duplex } from "node:stream";
import type { Logger } from "@skittlesorter/core";
import { generate, type IConnectPacket, type IPublishPacket, type Packet, parser } from "mqtt-packet";

// DPS devices use a small, fixed part of MQTT 3.1.1: CONNECT, one SUBSCRIBE, request PUBLISHes answered on that
// subscription, PINGREQ, DISCONNECT. Nothing is routed between clients and no session outlives its connection, so
// a general broker (aedes: subscription trees, persistence, retained messages, wills, per-packet pipelines) is
// mostly cost here; this serves exactly that part, with mqtt-packet reading and writing the packets.

/** What a CONNECT is answered with: a session to keep for the connection, or a CONNACK refusal. */
export type ConnectVerdict<Session> =
  | { session: Session }
  | { returnCode: 1 | 2 | 3 | 4 | 5; reason: string };

export interface DeviceBrokerOptions<Session> {
  /** Decides a CONNECT (its client id is already checked: 1–`maxClientIdLength` characters). */
  connect(conn: Duplex, packet: IConnectPacket): ConnectVerdict<Session>;
  /** The QoS granted for a subscription, or undefined to refuse it. */
  subscribe(session: Session, topic: string, requestedQos: number): 0 | 1 | undefined;
  unsubscribe(session: Session, topic: string): void;
  /** A request the device published (already acknowledged when it was QoS 1). */
  publish(connection: DeviceConnection<Session>, topic: string, payload: Buffer): void;
  logger: Logger;
  /** For log lines: "DPS". */
  label: string;
  /** A connection that has not sent its CONNECT this long after it was handed over is closed. */
  connectTimeoutMs: number;
  maxClientIdLength: number;
}

/** One device's connection, after its CONNECT was accepted. */
export class DeviceConnection<Session> {
  readonly clientId: string;
  readonly session: Session;
  readonly #conn: Duplex;
  #lastMessageId = 0;

  constructor(conn: Duplex, clientId: string, session: Session) {
    this.#conn = conn;
    this.clientId = clientId;
    this.session = session;
  }

  get closed(): boolean {
    return this.#conn.destroyed;
  }

  /** Publishes to the device at QoS 0 or 1 (its PUBACK is read and dropped: nothing is sent again). */
  publish(topic: string, payload: Buffer, qos: 0 | 1): void {
    const packet: IPublishPacket = { cmd: "publish", topic, payload, qos, retain: false, dup: false };
    if (qos === 1) {
      this.#lastMessageId = (this.#lastMessageId % 0xffff) + 1;
      packet.messageId = this.#lastMessageId;
    }
    send(this.#conn, packet);
  }

  close(): void {
    this.#conn.destroy();
  }
}

function send(conn: Duplex, packet: Packet, then?: () => void): void {
  if (!conn.destroyed) conn.write(generate(packet), then);
}

/** MQTT topic names are not empty and carry no wildcards or NUL (MQTT 3.1.1 §4.7.3). */
const isTopicName = (topic: string): boolean =>
  topic.length > 0 && !topic.includes("#") && !topic.includes("+") && !topic.includes("\0");

/** The MQTT 3.1.1 server of a device endpoint that answers requests and routes nothing (DPS). */
export class DeviceBroker<Session> {
  readonly #options: DeviceBrokerOptions<Session>;
  readonly #conns = new Set<Duplex>();
  readonly #byClientId = new Map<string, DeviceConnection<Session>>();
  #closed = false;

  constructor(options: DeviceBrokerOptions<Session>) {
    this.#options = options;
  }

  /** Serves one connection from its first byte (`request`: the WebSocket upgrade, unused here). */
  handle(conn: Duplex, _request?: unknown): void {
    if (this.#closed) {
      conn.destroy();
      return;
    }
    this.#conns.add(conn);
    let connection: DeviceConnection<Session> | undefined;
    /** Set once the first packet was not an acceptable CONNECT: what follows it (even in the same read) is ignored. */
    let refused = false;
    let keepAlive: NodeJS.Timeout | undefined;
    const connectTimer = setTimeout(() => conn.destroy(), this.#options.connectTimeoutMs);
    const packets = parser({ protocolVersion: 4 });
    packets.on("packet", (packet: Packet) => {
      if (conn.destroyed || refused) return;
      keepAlive?.refresh();
      if (connection !== undefined) {
        this.#onPacket(conn, connection, packet);
        return;
      }
      clearTimeout(connectTimer);
      if (packet.cmd !== "connect") {
        refused = true;
        this.#refuse(conn, `${packet.cmd} before CONNECT`);
        return;
      }
      connection = this.#onConnect(conn, packet);
      if (connection === undefined) {
        refused = true;
        return;
      }
      const keepalive = packet.keepalive ?? 0;
      // MQTT 3.1.1 §3.1.2.10: nothing from the client for one and a half keep-alive periods ends the connection.
      if (keepalive > 0) keepAlive = setTimeout(() => conn.destroy(), keepalive * 1500);
    });
    packets.on("error", (error: Error) => {
      this.#options.logger.debug(`${this.#options.label} client error`, {
        clientId: connection?.clientId,
        error: error.message,
      });
      conn.destroy();
    });
    conn.on("data", (chunk: Buffer) => packets.parse(chunk));
    // Edge mode hands connections over paused (their CONNECT read and put back): a data listener alone would not
    // start them.
    conn.resume();
    conn.on("error", (error) => {
      this.#options.logger.debug(`${this.#options.label} connection error`, {
        clientId: connection?.clientId,
        error: error.message,
      });
    });
    conn.once("close", () => {
      clearTimeout(connectTimer);
      clearTimeout(keepAlive);
      this.#conns.delete(conn);
      if (connection !== undefined && this.#byClientId.get(connection.clientId) === connection) {
        this.#byClientId.delete(connection.clientId);
      }
    });
  }

  /** Drops every connection; later ones are closed at once. Idempotent. */
  close(callback?: () => void): void {
    this.#closed = true;
    for (const conn of this.#conns) conn.destroy();
    this.#conns.clear();
    this.#byClientId.clear();
    callback?.();
  }

  #onConnect(conn: Duplex, packet: IConnectPacket): DeviceConnection<Session> | undefined {
    // A refusal closes the connection once its CONNACK is written.
    const connack = (returnCode: number, then?: () => void): void =>
      send(conn, { cmd: "connack", returnCode, sessionPresent: false }, then);
    const close = (): void => {
      conn.destroy();
    };
    if (packet.protocolVersion !== 4 && packet.protocolVersion !== 3) {
      connack(1, close);
      return undefined;
    }
    const clientId = packet.clientId ?? "";
    const verdict =
      clientId === "" || clientId.length > this.#options.maxClientIdLength
        ? ({ returnCode: 2, reason: "client id missing or too long" } as const)
        : this.#options.connect(conn, packet);
    if (!("session" in verdict)) {
      this.#options.logger.debug(`${this.#options.label} connection refused`, {
        clientId: clientId.slice(0, 256),
        reason: verdict.reason,
      });
      connack(verdict.returnCode, close);
      return undefined;
    }
    const connection = new DeviceConnection(conn, clientId, verdict.session);
    // A second connection with the same client id takes over (MQTT 3.1.1 §3.1.4): the first is closed.
    this.#byClientId.get(clientId)?.close();
    this.#byClientId.set(clientId, connection);
    connack(0);
    return connection;
  }

  #onPacket(conn: Duplex, connection: DeviceConnection<Session>, packet: Packet): void {
    const { session } = connection;
    switch (packet.cmd) {
      case "publish": {
        // IoT Hub and DPS close the connection on QoS 2 (not supported), as on a wildcard in a topic name.
        if (packet.qos === 2 || !isTopicName(packet.topic)) {
          this.#refuse(conn, packet.qos === 2 ? "QoS 2 is not supported" : "invalid topic name");
          return;
        }
        if (packet.qos === 1) send(conn, { cmd: "puback", messageId: packet.messageId as number });
        const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
        this.#options.publish(connection, packet.topic, payload);
        return;
      }
      case "subscribe": {
        const granted = packet.subscriptions.map(
          ({ topic, qos }) => this.#options.subscribe(session, topic, qos) ?? 128,
        );
        send(conn, { cmd: "suback", messageId: packet.messageId ?? 0, granted });
        return;
      }
      case "unsubscribe":
        for (const topic of packet.unsubscriptions) this.#options.unsubscribe(session, topic);
        // (`granted` is MQTT 5's reason codes: not written for 3.1.1.)
        send(conn, { cmd: "unsuback", messageId: packet.messageId ?? 0, granted: [] });
        return;
      case "pingreq":
        send(conn, { cmd: "pingresp" });
        return;
      case "puback":
        return;
      case "disconnect":
        conn.end();
        return;
      default:
        this.#refuse(conn, `unexpected ${packet.cmd}`);
    }
  }

  #refuse(conn: Duplex, reason: string): void {
    this.#options.logger.debug(`${this.#options.label} connection closed: protocol violation`, { reason });
    conn.destroy();
  }
}
