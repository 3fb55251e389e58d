/**
 * What the scripted DPS and the scripted IoT Hub share: an aedes broker served on loopback over MQTT/TLS or
 * WSS (`/$iothub/websocket`, as Azure serves both), the record of each connection it accepts, and QoS 1
 * publishing to one client.
 */
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import type { Aedes, AuthenticateError, Client, PublishPacket } from "aedes";
import { createWebSocketStream, WebSocketServer } from "ws";

/** A connection a scripted broker accepted (or refused), as its CONNECT and TLS handshake showed it. */
export interface BrokerConnection {
  index: number;
  clientId: string;
  username: string;
  password: string | undefined;
  /** Subject CN of the TLS client certificate, when one was presented. */
  peerCommonName: string | undefined;
  /** SHA-256 fingerprint of the TLS client certificate (`AB:CD:…`), when one was presented. */
  peerFingerprint256: string | undefined;
  client: Client;
  /** Destroys the connection's socket (the "network drops" case). */
  drop(): void;
}

/** Reads an aedes `authenticate` call into a {@link BrokerConnection}. */
export function describeConnection(
  client: Client,
  username: string | undefined,
  password: Buffer | undefined,
  index: number,
): BrokerConnection {
  const socket = client.conn as Partial<TLSSocket>;
  const peer = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
  const cn = peer?.subject?.CN;
  return {
    index,
    clientId: client.id,
    username: username ?? "",
    password: password === undefined ? undefined : Buffer.from(password).toString("utf8"),
    peerCommonName: Array.isArray(cn) ? cn[0] : cn,
    peerFingerprint256: peer?.fingerprint256 || undefined,
    client,
    drop: () => {
      (client.conn as { destroy(): void }).destroy();
    },
  };
}

/** The error for aedes' `authenticate` callback that makes it answer CONNACK with `returnCode`. */
export function connackRefusal(returnCode: number): AuthenticateError {
  return Object.assign(new Error("refused"), { returnCode }) as AuthenticateError;
}

/** Publishes `payload` to one client at QoS 1; resolves once it is written. */
export function publishTo(client: Client, topic: string, payload: Buffer): Promise<void> {
  const packet = { cmd: "publish", topic, payload, qos: 1, retain: false, dup: false } as PublishPacket;
  return new Promise((resolve) => {
    client.publish(packet, () => resolve());
  });
}

export interface ServeBrokerOptions {
  transport: "mqtts" | "wss";
  /** The server's TLS certificate (for localhost / 127.0.0.1) and key. */
  pki: { serverCertPem: string; serverKeyPem: string };
  /** Ask for a TLS client certificate (X.509); the chain is not checked here. */
  requestCert?: boolean | undefined;
}

export interface ServedBroker {
  port: number;
  /** Destroys every socket, then closes the broker and the listener. Idempotent. */
  close(): Promise<void>;
}

/** Serves `broker` on a free loopback port over MQTT/TLS or WSS. */
export async function serveBroker(broker: Aedes, options: ServeBrokerOptions): Promise<ServedBroker> {
  let server: TlsServer | ReturnType<typeof createHttpsServer>;
  let wss: WebSocketServer | undefined;
  const tlsOptions = {
    cert: options.pki.serverCertPem,
    key: options.pki.serverKeyPem,
    requestCert: options.requestCert ?? false,
    // The scripts check client certificates themselves (or not at all).
    rejectUnauthorized: false,
  };
  if (options.transport === "wss") {
    const https = createHttpsServer(tlsOptions);
    wss = new WebSocketServer({ server: https, path: "/$iothub/websocket" });
    wss.on("connection", (socket, request) => {
      const stream = createWebSocketStream(socket);
      stream.on("error", () => {});
      broker.handle(stream, request);
    });
    server = https;
  } else {
    server = createTlsServer(tlsOptions, (socket) => {
      socket.on("error", () => {});
      broker.handle(socket);
    });
  }
  const sockets = new Set<{ destroy(): void }>();
  server.on("secureConnection", (socket: TLSSocket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      for (const socket of sockets) socket.destroy();
      wss?.close();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return closed;
  };
  return { port, close };
}
