import { validateRegistrationId } from "@skittlesorter/attestation";
import type { Logger } from "@skittlesorter/core";
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from "aedes";
import { type MqttBackend, startMqttListeners } from "../net/mqtt-listeners.ts";
import type { TlsMaterial } from "../state/pki.ts";
import { DpsErrorCode, DpsFailure, parseUserName, RESPONSE_TOPIC_FILTER, responseTopic } from "./protocol.ts";
import type { DeviceSession, DpsAnswer, DpsService } from "./service.ts";

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
  /** Connections that have not completed their TLS handshake this long after opening are closed. */
  tlsHandshakeTimeoutMs: number;
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

function connackError(returnCode: 1 | 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** The DPS device endpoint: MQTT over TLS on `port`, MQTT over WebSocket (TLS) on `wsPort` at `/$iothub/websocket`. */
export async function startDpsEndpoint(options: DpsEndpointOptions): Promise<DpsEndpoint> {
  return startMqttListeners({ ...options, ...(await createDpsBackend(options)) });
}

/** The DPS device broker, without listeners: edge mode hands it the connections whose CONNECT is for DPS. */
export async function createDpsBackend(options: DpsEndpointOptions): Promise<MqttBackend> {
  const { service, logger } = options;
  const sessions = new WeakMap<Client, SessionState>();
  const peers = new WeakMap<object, { chain: Buffer[]; remoteAddress: string | undefined }>();

  const deliver = (client: Client, answer: DpsAnswer): void =>
    deliverAnswer(sessions, logger, client, answer);

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
      sessions.set(
        client,
        newSession(parsed, registrationId, password, peers.get(client.conn), service.idScope),
      );
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

  return {
    label: "DPS",
    identify(conn, chain, _transport, remoteAddress) {
      peers.set(conn, { chain, remoteAddress });
    },
    broker,
  };
}

/** Publishes an answer on the client's `$dps/registrations/res/#` subscription (dropped without one). */
function deliverAnswer(
  sessions: WeakMap<Client, SessionState>,
  logger: Logger,
  client: Client,
  answer: DpsAnswer,
): void {
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
}

/** A connection's session; a wrong ID scope is kept as the problem every request is answered with. */
function newSession(
  parsed: { idScope: string; apiVersion: string | undefined },
  registrationId: string,
  password: Buffer | undefined,
  peer: { chain: Buffer[]; remoteAddress: string | undefined } | undefined,
  idScope: string,
): SessionState {
  const session: SessionState = {
    idScope: parsed.idScope,
    registrationId,
    apiVersion: parsed.apiVersion,
    password: password === undefined ? undefined : password.toString("utf8"),
    peerChain: peer?.chain ?? [],
    subscribedQos: undefined,
  };
  if (peer?.remoteAddress !== undefined) session.remoteAddress = peer.remoteAddress;
  if (parsed.idScope !== idScope) {
    session.problem = new DpsFailure(
      401,
      DpsErrorCode.unauthorized,
      `Unauthorized: ID scope "${parsed.idScope}" is not this DPS's ("${idScope}"); use the idScope from sim.json.`,
    );
  }
  return session;
}
