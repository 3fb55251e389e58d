import type { Logger } from "@skittlesorter/core";
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from "aedes";
import { startMqttListeners } from "../net/mqtt-listeners.ts";
import type { TlsMaterial } from "../state/pki.ts";
import { HubRefusal, type HubSession } from "./auth.ts";
import type { HubLink, HubService, HubSubscription } from "./service.ts";

export interface HubEndpoint {
  port: number;
  wsPort: number;
  close(): Promise<void>;
}

export interface HubEndpointOptions {
  host: string;
  port: number;
  wsPort: number;
  tls: TlsMaterial;
  service: HubService;
  logger: Logger;
  /** MQTT packets declaring more close the connection (IoT Hub's device-to-cloud limit is 256 KiB). */
  maxPacketBytes: number;
  /** Connections that have not completed their TLS handshake this long after opening are closed. */
  tlsHandshakeTimeoutMs: number;
  nowIso(): string;
}

/** Marks packets the simulator sends, the only ones forwarded to devices. */
const SERVER_MARK = "$skittle-sim-hub";

/** The subscription filters a device may use, and what each one receives. */
function subscriptionFor(deviceId: string, filter: string): HubSubscription | undefined {
  if (filter === "$iothub/twin/res/#") return "twinResponses";
  if (filter === "$iothub/twin/PATCH/properties/desired/#") return "desiredUpdates";
  if (filter === "$iothub/methods/POST/#") return "methods";
  if (filter === `devices/${deviceId}/messages/devicebound/#`) return "cloudToDevice";
  return undefined;
}

interface ClientState {
  session: HubSession;
  transport: "mqtt" | "mqtt-ws";
  subscriptions: Map<HubSubscription, 0 | 1>;
  link?: HubLink;
}

/**
 * The simulator's IoT Hub device endpoint: MQTT 3.1.1 over TLS on `port` and over WebSocket (TLS) at
 * `/$iothub/websocket` on `wsPort`. Authentication, topics and behaviour come from {@link HubService}.
 */
export async function startHubEndpoint(options: HubEndpointOptions): Promise<HubEndpoint> {
  const { service, logger } = options;
  const states = new WeakMap<Client, ClientState>();
  const peerChains = new WeakMap<object, { chain: Buffer[]; transport: ClientState["transport"] }>();

  const broker = await Aedes.createBroker({
    maxClientsIdLength: 256,
    connectTimeout: 10_000,
    authenticate(client, username, password, done) {
      const peer = peerChains.get(client.conn) ?? { chain: [], transport: "mqtt" as const };
      const credentials = {
        clientId: client.id ?? "",
        username,
        password: password === undefined ? undefined : password.toString("utf8"),
        peerChain: peer.chain,
      };
      try {
        const session = service.authenticate(credentials);
        states.set(client, { session, transport: peer.transport, subscriptions: new Map() });
        done(null, true);
      } catch (error) {
        const refusal =
          error instanceof HubRefusal ? error : new HubRefusal(5, "INTERNAL", (error as Error).message);
        try {
          service.refused(credentials, refusal);
        } catch {
          // logging a refusal never breaks the answer
        }
        done(
          Object.assign(new Error(refusal.message), { returnCode: refusal.returnCode }) as AuthenticateError,
          false,
        );
      }
    },
    authorizeSubscribe(client, subscription, callback) {
      const state = states.get(client);
      const kind =
        state === undefined ? undefined : subscriptionFor(state.session.deviceId, subscription.topic);
      if (state === undefined || kind === undefined) {
        logger.debug("IoT Hub subscription refused", { clientId: client.id, topic: subscription.topic });
        callback(null, null);
        return;
      }
      const qos: 0 | 1 = subscription.qos === 0 ? 0 : 1;
      state.subscriptions.set(kind, qos);
      callback(null, { ...subscription, qos });
    },
    authorizePublish(client, packet, callback) {
      if (client === null) {
        callback(null);
        return;
      }
      const state = states.get(client);
      if (state === undefined) {
        callback(new Error("not connected"));
        return;
      }
      if (packet.qos === 2) {
        logger.warn("IoT Hub does not support QoS 2; disconnecting", { deviceId: state.session.deviceId });
        callback(new Error("QoS 2 is not supported"));
        return;
      }
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? "");
      let stored: Promise<unknown> | undefined;
      try {
        stored = service.handlePublish(state.session, packet.topic, payload, packet.retain === true);
      } catch (error) {
        callback(error as Error);
        return;
      }
      packet.retain = false;
      // Telemetry is in the database before aedes sends PUBACK.
      if (stored === undefined) callback(null);
      else
        stored.then(
          () => callback(null),
          (error: unknown) => callback(error as Error),
        );
    },
    authorizeForward(_client, packet) {
      return (packet as { clientId?: string }).clientId === SERVER_MARK ? packet : null;
    },
  });

  followClients(broker, states, options);

  return startMqttListeners({
    ...options, // host, ports, TLS material and limits
    label: "IoT Hub",
    logger,
    identify(conn, chain, transport) {
      peerChains.set(conn, { chain, transport });
    },
    broker,
  });
}

/** The service's handle on one connected device: what it subscribed to, sending to it, closing it. */
function linkFor(client: Client, state: ClientState, options: HubEndpointOptions): HubLink {
  const { logger } = options;
  const link: HubLink = {
    deviceId: state.session.deviceId,
    hub: state.session.hub,
    authMethod: state.session.authMethod,
    transport: state.transport,
    connectedAt: options.nowIso(),
    subscribed: (kind) => state.subscriptions.has(kind),
    subscriptions: () => [...state.subscriptions.keys()],
    send(kind, topic, payload) {
      const qos = state.subscriptions.get(kind);
      if (qos === undefined || client.closed) return false;
      const packet = {
        cmd: "publish",
        topic,
        payload,
        qos,
        retain: false,
        dup: false,
        clientId: SERVER_MARK,
      } as PublishPacket & { clientId: string };
      client.publish(packet, (error) => {
        if (error)
          logger.debug("IoT Hub message not delivered", { deviceId: link.deviceId, error: error.message });
      });
      return true;
    },
    close(reason) {
      logger.info("IoT Hub connection closed by the hub", { deviceId: link.deviceId, reason });
      client.close();
    },
  };
  return link;
}

/** Attaches each authenticated connection to the service, and detaches it when it goes. */
function followClients(
  broker: Aedes,
  states: WeakMap<Client, ClientState>,
  options: HubEndpointOptions,
): void {
  const { service, logger } = options;
  broker.on("client", (client) => {
    const state = states.get(client);
    if (state === undefined) return;
    const link = linkFor(client, state, options);
    state.link = link;
    service.attach(link);
  });
  broker.on("unsubscribe", (topics, client) => {
    const state = states.get(client);
    if (state === undefined) return;
    for (const topic of topics) {
      const kind = subscriptionFor(state.session.deviceId, topic);
      if (kind !== undefined) state.subscriptions.delete(kind);
    }
  });
  broker.on("clientDisconnect", (client) => {
    const link = states.get(client)?.link;
    if (link !== undefined) service.detach(link, "disconnected");
  });
  broker.on("clientError", (client, error) => {
    logger.debug("IoT Hub client error", { clientId: client?.id, error: error.message });
    const link = client === undefined ? undefined : states.get(client)?.link;
    if (link !== undefined) service.detach(link, error.message);
  });
  broker.on("connectionError", (client, error) => {
    logger.debug("IoT Hub connection error", { clientId: client?.id, error: error.message });
  });
}
