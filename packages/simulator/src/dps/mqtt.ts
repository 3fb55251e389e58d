import { validateRegistrationId } from "@skittlesorter/attestation";
import type { Logger } from "@skittlesorter/core";
import { type MqttBackend, startMqttListeners } from "../net/mqtt-listeners.ts";
import type { TlsMaterial } from "../state/pki.ts";
import { DeviceBroker, type DeviceConnection } from "./broker.ts";
import { DpsErrorCode, DpsFailure, parseUserName, RESPONSE_TOPIC_FILTER, responseTopic } from "./protocol.ts";
import type { DeviceSession, DpsAnswer, DpsService } from "./service.ts";

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

/** The DPS device endpoint: MQTT over TLS on `port`, MQTT over WebSocket (TLS) on `wsPort` at `/$iothub/websocket`. */
export async function startDpsEndpoint(options: DpsEndpointOptions): Promise<DpsEndpoint> {
  return startMqttListeners({ ...options, ...(await createDpsBackend(options)) });
}

/** The DPS device broker, without listeners: edge mode hands it the connections whose CONNECT is for DPS. */
export async function createDpsBackend(options: DpsEndpointOptions): Promise<MqttBackend> {
  const { service, logger } = options;
  const peers = new WeakMap<object, { chain: Buffer[]; remoteAddress: string | undefined }>();

  const broker = new DeviceBroker<SessionState>({
    label: "DPS",
    logger,
    maxClientIdLength: 256,
    connectTimeoutMs: 10_000,
    connect(conn, packet) {
      const parsed = parseUserName(packet.username);
      if (parsed === undefined) {
        logger.info("DPS connection refused: bad user name", { clientId: packet.clientId });
        return { returnCode: 4, reason: "bad user name" };
      }
      let registrationId: string;
      try {
        registrationId = validateRegistrationId(parsed.registrationId);
      } catch {
        return { returnCode: 2, reason: "invalid registration id" };
      }
      if (packet.clientId.toLowerCase() !== registrationId) {
        logger.info("DPS connection refused: client id differs from the registration id", {
          clientId: packet.clientId,
        });
        return { returnCode: 2, reason: "client id must be the registration id" };
      }
      return {
        session: newSession(parsed, registrationId, packet.password, peers.get(conn), service.idScope),
      };
    },
    subscribe(session, topic, requestedQos) {
      if (topic !== RESPONSE_TOPIC_FILTER) {
        logger.debug("DPS subscription refused", { registrationId: session.registrationId, topic });
        return undefined;
      }
      session.subscribedQos = requestedQos === 0 ? 0 : 1;
      return session.subscribedQos;
    },
    unsubscribe(session, topic) {
      if (topic === RESPONSE_TOPIC_FILTER) session.subscribedQos = undefined;
    },
    publish(connection, topic, payload) {
      // Requests are consumed here, never routed to other clients.
      service.handle(connection.session, topic, payload).then(
        (answer) => {
          if (answer !== undefined) deliverAnswer(logger, connection, answer);
        },
        (error: unknown) => logger.error("DPS request handler failed", { error: (error as Error)?.message }),
      );
    },
  });

  return {
    label: "DPS",
    identify(conn, chain, _transport, remoteAddress) {
      peers.set(conn, { chain, remoteAddress });
    },
    broker,
  };
}

/** Publishes an answer on the connection's `$dps/registrations/res/#` subscription (dropped without one). */
function deliverAnswer(logger: Logger, connection: DeviceConnection<SessionState>, answer: DpsAnswer): void {
  const qos = connection.session.subscribedQos;
  if (qos === undefined || connection.closed) {
    logger.debug("DPS answer dropped: the client is not subscribed to $dps/registrations/res/#", {
      clientId: connection.clientId,
    });
    return;
  }
  const topic = responseTopic(answer.status, answer.rid, answer.retryAfterSeconds);
  connection.publish(topic, Buffer.from(asciiJson(answer.body), "utf8"), qos);
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
