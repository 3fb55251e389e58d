import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import { validateRegistrationId } from "@skittlesorter/attestation";
import type { Logger } from "@skittlesorter/core";
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from "aedes";
import { createWebSocketStream, WebSocketServer } from "ws";
import type { DeviceSession, DpsAnswer, DpsService } from "./dps-service.ts";
import { guardConnection } from "./packet-guard.ts";
import type { TlsMaterial } from "./pki.ts";
import { DpsErrorCode, DpsFailure, parseUserName, RESPONSE_TOPIC_FILTER, responseTopic } from "./protocol.ts";

export const WEBSOCKET_PATH = "/$iothub/websocket";
/** Marks packets the simulator sends, the only ones forwarded to devices. */
const SERVER_MARK = "$skittle-sim";

export interface DpsEndpointOptions {
  host: string;
  port: number;
  wsPort: number;
  tls: TlsMaterial;
  service: DpsService;
  logger: Logger;
  /** MQTT packets declaring more are refused by closing the connection. */
  maxPacketBytes: number;
}

export interface DpsEndpoint {
  port: number;
  wsPort: number;
  close(): Promise<void>;
}

interface SessionState extends DeviceSession {
  subscribedQos: 0 | 1 | undefined;
}

/** JSON with every non-ASCII character escaped: the Node SDK decodes answers as ASCII. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function peerChainOf(socket: TLSSocket): Buffer[] {
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

function connackError(returnCode: 1 | 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

async function listen(
  server: TlsServer | HttpsServer,
  port: number,
  host: string,
  what: string,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        Object.assign(
          new Error(
            error.code === "EADDRINUSE"
              ? `The ${what} port ${host}:${port} is in use; pick another port or 0 for any free one.`
              : `Cannot listen on ${host}:${port} for the ${what}: ${error.message}`,
          ),
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

/** The DPS device endpoint: MQTT over TLS on `port`, MQTT over WebSocket (TLS) on `wsPort` at `/$iothub/websocket`. */
export async function startDpsEndpoint(options: DpsEndpointOptions): Promise<DpsEndpoint> {
  const { service, logger } = options;
  const sessions = new WeakMap<Client, SessionState>();
  const peerChains = new WeakMap<object, Buffer[]>();
  const sockets = new Set<Socket>();

  const deliver = (client: Client, answer: DpsAnswer): void => {
    const session = sessions.get(client);
    if (session?.subscribedQos === undefined || client.closed) {
      logger.debug("DPS answer dropped: the client is not subscribed to $dps/registrations/res/#", {
        clientId: client.id,
      });
      return;
    }
    const packet = {
      cmd: "publish",
      topic: responseTopic(answer.status, answer.rid, answer.retryAfterSeconds),
      payload: Buffer.from(asciiJson(answer.body), "utf8"),
      qos: session.subscribedQos,
      retain: false,
      dup: false,
      clientId: SERVER_MARK,
    } as PublishPacket & { clientId: string };
    client.publish(packet, (error) => {
      if (error) logger.debug("DPS answer not delivered", { clientId: client.id, error: error.message });
    });
  };

  const broker = await Aedes.createBroker({
    maxClientsIdLength: 256,
    connectTimeout: 10_000,
    authenticate(client, username, password, done) {
      const parsed = parseUserName(username);
      if (parsed === undefined) {
        logger.info("DPS connection refused: bad user name", { clientId: client.id });
        done(connackError(4, "bad user name"), false);
        return;
      }
      let registrationId: string;
      try {
        registrationId = validateRegistrationId(parsed.registrationId);
      } catch {
        done(connackError(2, "invalid registration id"), false);
        return;
      }
      if ((client.id ?? "").toLowerCase() !== registrationId) {
        logger.info("DPS connection refused: client id differs from the registration id", {
          clientId: client.id,
        });
        done(connackError(2, "client id must be the registration id"), false);
        return;
      }
      const session: SessionState = {
        idScope: parsed.idScope,
        registrationId,
        apiVersion: parsed.apiVersion,
        password: password === undefined ? undefined : password.toString("utf8"),
        peerChain: peerChains.get(client.conn) ?? [],
        subscribedQos: undefined,
      };
      if (parsed.idScope !== service.idScope) {
        session.problem = new DpsFailure(
          401,
          DpsErrorCode.unauthorized,
          `Unauthorized: ID scope "${parsed.idScope}" is not this DPS's ("${service.idScope}"); use the idScope from sim.json.`,
        );
      }
      sessions.set(client, session);
      done(null, true);
    },
    authorizeSubscribe(client, subscription, callback) {
      const session = sessions.get(client);
      if (session === undefined || subscription.topic !== RESPONSE_TOPIC_FILTER) {
        logger.debug("DPS subscription refused", { clientId: client.id, topic: subscription.topic });
        callback(null, null);
        return;
      }
      const qos: 0 | 1 = subscription.qos === 0 ? 0 : 1;
      session.subscribedQos = qos;
      callback(null, { ...subscription, qos });
    },
    authorizePublish(client, packet, callback) {
      if (client === null) {
        callback(null);
        return;
      }
      // Requests are consumed here, never routed to other clients (authorizeForward drops them).
      packet.retain = false;
      callback(null);
      const session = sessions.get(client);
      if (session === undefined) return;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? "");
      void service.handle(session, packet.topic, payload).then(
        (answer) => {
          if (answer !== undefined) deliver(client, answer);
        },
        (error: unknown) => logger.error("DPS request handler failed", { error: (error as Error)?.message }),
      );
    },
    authorizeForward(_client, packet) {
      return (packet as { clientId?: string }).clientId === SERVER_MARK ? packet : null;
    },
  });
  broker.on("clientError", (client, error) => {
    logger.debug("DPS client error", { clientId: client?.id, error: error.message });
  });
  broker.on("connectionError", (client, error) => {
    logger.debug("DPS connection error", { clientId: client?.id, error: error.message });
  });

  const accept = (conn: Duplex, chain: Buffer[], request?: import("node:http").IncomingMessage): void => {
    peerChains.set(conn, chain);
    conn.on("error", () => {});
    broker.handle(conn, request);
  };
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const tlsServer = createTlsServer(
    {
      cert: options.tls.certificateChainPem,
      key: options.tls.keyPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      handshakeTimeout: 10_000,
    },
    (socket) => {
      const conn = guardConnection(socket, options.maxPacketBytes, (declared) => {
        logger.warn("DPS connection closed: MQTT packet too large", {
          declaredBytes: declared,
          limitBytes: options.maxPacketBytes,
        });
      });
      accept(conn, peerChainOf(socket));
    },
  );
  tlsServer.on("connection", track);
  tlsServer.on("tlsClientError", (error) =>
    logger.debug("DPS TLS handshake failed", { error: error.message }),
  );

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPacketBytes + 16,
    handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : false),
  });
  const httpsServer = createHttpsServer(
    {
      cert: options.tls.certificateChainPem,
      key: options.tls.keyPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      handshakeTimeout: 10_000,
    },
    (_request, response) => {
      response
        .writeHead(404, { "content-type": "text/plain" })
        .end(`Use MQTT over WebSocket at ${WEBSOCKET_PATH}.\n`);
    },
  );
  httpsServer.on("connection", track);
  httpsServer.on("upgrade", (request, socket: Socket, head: Buffer) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== WEBSOCKET_PATH) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      accept(stream, peerChainOf(socket as TLSSocket), request);
    });
  });
  httpsServer.on("tlsClientError", (error) =>
    logger.debug("DPS WSS handshake failed", { error: error.message }),
  );

  let port: number;
  let wsPort: number;
  try {
    port = await listen(tlsServer, options.port, options.host, "DPS MQTT");
    wsPort = await listen(httpsServer, options.wsPort, options.host, "DPS WebSocket");
  } catch (error) {
    tlsServer.close();
    httpsServer.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
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
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await closed;
      })();
      return closing;
    },
  };
}
