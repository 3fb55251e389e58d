import type { IncomingMessage } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Server, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from "node:tls";
import type { Logger } from "@skittlesorter/core";
import { createWebSocketStream, WebSocketServer } from "ws";
import type { TlsMaterial } from "../state/pki.ts";
import { guardConnection } from "./packet-guard.ts";

export const WEBSOCKET_PATH = "/$iothub/websocket";

export type MqttTransport = "mqtt" | "mqtt-ws";

/** Serves MQTT connections from their first byte: aedes, or the DPS endpoint's own server. */
export interface MqttBroker {
  handle(conn: Duplex, request?: IncomingMessage): unknown;
  close(callback: () => void): void;
}

/** What serves accepted MQTT connections: a broker, told first about each connection's peer. */
export interface MqttBackend {
  /** Names the endpoint in logs and errors, e.g. "DPS" or "IoT Hub". */
  label: string;
  /** Serves every accepted connection; closed with the listeners (and when they cannot start). */
  broker: MqttBroker;
  /**
   * Called before the broker sees a connection: the client certificate chain it presented, how it came, and the
   * peer's IP address.
   */
  identify(
    conn: Duplex,
    peerChain: Buffer[],
    transport: MqttTransport,
    remoteAddress: string | undefined,
  ): void;
}

/** Hands an accepted connection (its TLS socket tells the peer) to a backend's broker. */
export function handOver(
  backend: MqttBackend,
  conn: Duplex,
  socket: TLSSocket,
  transport: MqttTransport,
  request?: IncomingMessage,
): void {
  backend.identify(conn, peerChainOf(socket), transport, socket.remoteAddress);
  conn.on("error", () => {});
  backend.broker.handle(conn, request);
}

/** Closes a backend's broker. */
export function closeBroker(backend: MqttBackend): Promise<void> {
  return new Promise((resolve) => backend.broker.close(() => resolve()));
}

/** TLS server options of every MQTT front: a client certificate is asked for, not required. */
export function mqttTlsOptions(tls: TlsMaterial, tlsHandshakeTimeoutMs: number) {
  return {
    cert: tls.certificateChainPem,
    key: tls.keyPem,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2" as const,
    handshakeTimeout: tlsHandshakeTimeoutMs,
    // TCP_NODELAY on every accepted socket (a net.createServer option, honoured by tls and https servers). The
    // broker answers with small packets in separate writes (a PUBACK, then the response); with Nagle's algorithm
    // the second waits for the client's delayed ACK, up to 40 ms per exchange.
    noDelay: true,
  };
}

export interface MqttListenersOptions extends MqttBackend {
  host: string;
  port: number;
  wsPort: number;
  tls: TlsMaterial;
  /** MQTT packets declaring more close the connection. */
  maxPacketBytes: number;
  /** Connections whose TLS handshake has not completed this long after they opened are closed. */
  tlsHandshakeTimeoutMs: number;
  logger: Logger;
}

export interface MqttListeners {
  port: number;
  wsPort: number;
  /** Stops listening, drops every connection and closes the broker. Idempotent. */
  close(): Promise<void>;
}

/**
 * The front of an Azure-style MQTT endpoint: MQTT 3.1.1 over TLS on `port` and over WebSocket (TLS) at
 * `/$iothub/websocket` on `wsPort`, both asking for (but not requiring) a client certificate, whose chain is
 * checked by the service behind.
 */
export async function startMqttListeners(options: MqttListenersOptions): Promise<MqttListeners> {
  const { label, logger } = options;
  const accept = (
    conn: Duplex,
    socket: TLSSocket,
    transport: MqttTransport,
    request?: IncomingMessage,
  ): void => handOver(options, conn, socket, transport, request);
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const tlsOptions = mqttTlsOptions(options.tls, options.tlsHandshakeTimeoutMs);

  const tlsServer = createTlsServer(tlsOptions, (socket) => {
    const conn = guardConnection(socket, options.maxPacketBytes, (declared) => {
      logger.warn(`${label} connection closed: MQTT packet too large`, {
        declaredBytes: declared,
        limitBytes: options.maxPacketBytes,
      });
    });
    accept(conn, socket, "mqtt");
  });
  tlsServer.on("connection", track);
  // Node only reports a failed or timed-out handshake; without the destroy a client that never sends (or never
  // finishes) its ClientHello would hold its socket forever.
  tlsServer.on("tlsClientError", (error, socket) => {
    logger.debug(`${label} TLS handshake failed`, { error: error.message });
    socket.destroy();
  });

  const { wss, httpsServer } = webSocketServer(options, tlsOptions, accept);
  httpsServer.on("connection", track);

  let port: number;
  let wsPort: number;
  try {
    port = await listen(tlsServer, options.port, options.host, `${label} MQTT`);
    wsPort = await listen(httpsServer, options.wsPort, options.host, `${label} WebSocket`);
  } catch (error) {
    tlsServer.close();
    httpsServer.close();
    await closeBroker(options);
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    port,
    wsPort,
    close() {
      closing ??= (async () => {
        const closed = Promise.all([
          new Promise<void>((resolve) => tlsServer.close(() => resolve())),
          new Promise<void>((resolve) => httpsServer.close(() => resolve())),
        ]);
        for (const socket of sockets) socket.destroy();
        httpsServer.closeAllConnections();
        for (const client of wss.clients) client.terminate();
        wss.close();
        await closed;
        await closeBroker(options);
      })();
      return closing;
    },
  };
}

/** The certificate chain the TLS client presented, leaf first, as DER. */
export function peerChainOf(socket: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  const seen = new Set<string>();
  let certificate = socket.getPeerCertificate(true) as
    | { raw?: Buffer; fingerprint256?: string; issuerCertificate?: unknown }
    | undefined;
  while (certificate?.raw !== undefined && !seen.has(certificate.fingerprint256 ?? "")) {
    chain.push(certificate.raw);
    seen.add(certificate.fingerprint256 ?? "");
    certificate = certificate.issuerCertificate as typeof certificate;
  }
  return chain;
}

export async function listen(server: Server, port: number, host: string, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new Error(
          error.code === "EADDRINUSE"
            ? `The ${what} port ${host}:${port} is in use; pick another port or 0 for any free one.`
            : `Cannot listen on ${host}:${port} for the ${what}: ${error.message}`,
          { cause: error },
        ),
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * MQTT over WebSocket at {@link WEBSOCKET_PATH} on an HTTP(S) server's `upgrade` event: subprotocol `mqtt`, any other
 * path answered 404. `accept` gets each WebSocket as a byte stream, with the upgraded socket.
 */
export function mqttWebSocketUpgrade(
  maxPacketBytes: number,
  accept: (conn: Duplex, socket: TLSSocket, request: IncomingMessage) => void,
): { wss: WebSocketServer; onUpgrade: (request: IncomingMessage, socket: Socket, head: Buffer) => void } {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxPacketBytes + 16,
    handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : false),
  });
  const onUpgrade = (request: IncomingMessage, socket: Socket, head: Buffer): void => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== WEBSOCKET_PATH) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      accept(createWebSocketStream(ws), socket as TLSSocket, request);
    });
  };
  return { wss, onUpgrade };
}

/** MQTT over WebSocket (TLS) at {@link WEBSOCKET_PATH}; any other path is answered 404. */
function webSocketServer(
  options: MqttListenersOptions,
  tlsOptions: TlsOptions,
  accept: (conn: Duplex, socket: TLSSocket, transport: MqttTransport, request?: IncomingMessage) => void,
): { wss: WebSocketServer; httpsServer: HttpsServer } {
  const { wss, onUpgrade } = mqttWebSocketUpgrade(options.maxPacketBytes, (conn, socket, request) =>
    accept(conn, socket, "mqtt-ws", request),
  );
  const httpsServer = createHttpsServer(tlsOptions, (_request, response) => {
    response
      .writeHead(404, { "content-type": "text/plain" })
      .end(`Use MQTT over WebSocket at ${WEBSOCKET_PATH}.\n`);
  });
  httpsServer.on("upgrade", onUpgrade);
  httpsServer.on("tlsClientError", (error, socket) => {
    options.logger.debug(`${options.label} WSS handshake failed`, { error: error.message });
    socket.destroy();
  });
  return { wss, httpsServer };
}
