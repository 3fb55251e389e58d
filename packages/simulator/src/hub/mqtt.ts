import type { Logger } from "@skittlesorter/core";
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from "aedes";
import { type MqttBackend, startMqttListeners } from "../net/mqtt-listeners.ts";
import type { TlsMaterial } from "../state/pki.ts";
import { HubRefusal, type HubSession } from "./auth.ts";
import { type CertificateRenewals, CREDENTIALS_RESPONSE_FILTER } from "./credentials.ts";
import type { HubLink, HubService, HubSubscription } from "./service.ts";
import { hubPersistence } from "./sessions.ts";

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
  /** `$iothub/credentials` (certificate renewal through the hub); absent: refused like any unknown topic. */
  credentials?: CertificateRenewals | undefined;
  logger: Logger;
  /** MQTT packets declaring more close the connection (IoT Hub's device-to-cloud limit is 256 KiB). */
  maxPacketBytes: number;
  /** Connections that have not completed their TLS handshake this long after opening are closed. */
  tlsHandshakeTimeoutMs: number;
  nowIso(): string;
}

/**
 * Marks packets the simulator sends, the only ones forwarded to devices. A QoS 1 packet's mark carries the packet id
 * the simulator chose (`{mark}/{id}`): aedes drops a packet id given to `client.publish`, but keeps the one on the
 * packet `authorizeForward` returns, so a PUBACK names the message it acknowledges.
 */
const SERVER_MARK = "$skittle-sim-hub";

/** The subscription filters a device (or module) may use, and what each one receives. */
function subscriptionFor(session: HubSession, filter: string): HubSubscription | undefined {
  if (filter === "$iothub/twin/res/#") return "twinResponses";
  if (filter === "$iothub/twin/PATCH/properties/desired/#") return "desiredUpdates";
  if (filter === "$iothub/methods/POST/#") return "methods";
  const { deviceId, moduleId } = session;
  if (moduleId === undefined && filter === `devices/${deviceId}/messages/devicebound/#`)
    return "cloudToDevice";
  if (moduleId !== undefined && filter === `devices/${deviceId}/modules/${moduleId}/inputs/#`) {
    return "moduleInputs";
  }
  if (filter === CREDENTIALS_RESPONSE_FILTER) return "credentials";
  return undefined;
}

interface ClientState {
  session: HubSession;
  transport: "mqtt" | "mqtt-ws";
  subscriptions: Map<HubSubscription, 0 | 1>;
  link?: HubLink;
  /** QoS 1 packets sent and not yet acknowledged, by packet id: what to do on PUBACK. */
  awaitingAck: Map<number, () => void>;
  lastPacketId: number;
  connackSent: boolean;
}

/**
 * The simulator's IoT Hub device endpoint: MQTT 3.1.1 over TLS on `port` and over WebSocket (TLS) at
 * `/$iothub/websocket` on `wsPort`. Authentication, topics and behaviour come from {@link HubService}.
 */
export async function startHubEndpoint(options: HubEndpointOptions): Promise<HubEndpoint> {
  return startMqttListeners({ ...options, ...(await createHubBackend(options)) });
}

/** The IoT Hub device broker, without listeners: edge mode hands it the connections whose CONNECT is for a hub. */
export async function createHubBackend(options: HubEndpointOptions): Promise<MqttBackend> {
  const { service, logger } = options;
  const states = new WeakMap<Client, ClientState>();
  const peerChains = new WeakMap<object, { chain: Buffer[]; transport: ClientState["transport"] }>();

  const broker = await Aedes.createBroker({
    persistence: hubPersistence(service.sessions, (client, packetId) =>
      acknowledged(states, client, packetId),
    ),
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
        states.set(client, {
          session,
          transport: peer.transport,
          subscriptions: new Map(),
          awaitingAck: new Map(),
          lastPacketId: 0,
          connackSent: false,
        });
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
      const granted =
        state === undefined ? null : subscribe(state, subscription, service, options.credentials);
      if (granted === null) {
        logger.debug("IoT Hub subscription refused", { clientId: client.id, topic: subscription.topic });
      }
      callback(null, granted);
    },
    authorizePublish(client, packet, callback) {
      authorizeDevicePublish(states, options, client, packet, callback);
    },
    authorizeForward(_client, packet) {
      const mark = (packet as { clientId?: string }).clientId ?? "";
      if (mark === SERVER_MARK) return packet;
      if (!mark.startsWith(`${SERVER_MARK}/`)) return null;
      packet.messageId = Number(mark.slice(SERVER_MARK.length + 1));
      return packet;
    },
  });

  followClients(broker, states, options);

  return {
    label: "IoT Hub",
    identify(conn, chain, transport) {
      peerChains.set(conn, { chain, transport });
    },
    broker,
  };
}

/**
 * A device's PUBLISH: renewal requests go to the credentials service, the rest to the hub service. QoS 1 telemetry is
 * acknowledged (the callback) only once it is in the database.
 */
function authorizeDevicePublish(
  states: WeakMap<Client, ClientState>,
  options: HubEndpointOptions,
  client: Client | null,
  packet: PublishPacket,
  callback: (error?: Error | null) => void,
): void {
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
    options.logger.warn("IoT Hub does not support QoS 2; disconnecting", {
      deviceId: state.session.deviceId,
    });
    callback(new Error("QoS 2 is not supported"));
    return;
  }
  const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? "");
  let stored: Promise<unknown> | undefined;
  try {
    if (options.credentials?.handlePublish(state.session, packet.topic, payload) !== true)
      stored = options.service.handlePublish(state.session, packet.topic, payload, packet.retain === true);
  } catch (error) {
    callback(error as Error);
    return;
  }
  packet.retain = false;
  if (stored === undefined) callback(null);
  else
    stored.then(
      () => callback(null),
      (error: unknown) => callback(error as Error),
    );
}

/** Runs what waited for the PUBACK of packet `packetId`. */
function acknowledged(states: WeakMap<Client, ClientState>, client: object, packetId: number): void {
  const state = states.get(client as Client);
  const onAck = state?.awaitingAck.get(packetId);
  state?.awaitingAck.delete(packetId);
  onAck?.();
}

/** Records an allowed subscription (QoS 0 or 1 granted); null for a topic the connection may not subscribe to. */
function subscribe(
  state: ClientState,
  subscription: Subscription,
  service: HubService,
  credentials: CertificateRenewals | undefined,
): Subscription | null {
  const kind = subscriptionFor(state.session, subscription.topic);
  if (kind === undefined) return null;
  if (kind === "credentials" && credentials?.mayRenew(state.session) !== true) return null;
  const qos: 0 | 1 = subscription.qos === 0 ? 0 : 1;
  state.subscriptions.set(kind, qos);
  // Queued cloud-to-device messages go out once the device listens (and its CONNACK is out).
  const link = state.link;
  if (kind === "cloudToDevice" && link !== undefined && state.connackSent) {
    setImmediate(() => service.ready(link));
  }
  return { ...subscription, qos };
}

/** The service's handle on one connected device: what it subscribed to, sending to it, closing it. */
function linkFor(client: Client, state: ClientState, options: HubEndpointOptions): HubLink {
  const { logger } = options;
  const link: HubLink = {
    deviceId: state.session.deviceId,
    ...(state.session.moduleId === undefined ? {} : { moduleId: state.session.moduleId }),
    hub: state.session.hub,
    authMethod: state.session.authMethod,
    transport: state.transport,
    connectedAt: options.nowIso(),
    subscribed: (kind) => state.subscriptions.has(kind),
    subscriptions: () => [...state.subscriptions.keys()],
    send(kind, topic, payload, onAck) {
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
      if (qos === 1) {
        // Packet ids are ours (all QoS 1 sends come through here), so a PUBACK names what it acknowledges.
        state.lastPacketId = (state.lastPacketId % 65_535) + 1;
        packet.clientId = `${SERVER_MARK}/${state.lastPacketId}`;
        if (onAck !== undefined) state.awaitingAck.set(state.lastPacketId, onAck);
      } else if (onAck !== undefined) {
        // A QoS 0 subscriber gets no second chance: the message counts as delivered once written.
        setImmediate(onAck);
      }
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
  broker.on("connackSent", (_packet, client) => {
    const state = states.get(client);
    if (state === undefined) return;
    state.connackSent = true;
    if (state.link !== undefined) service.ready(state.link);
  });
  broker.on("unsubscribe", (topics, client) => {
    const state = states.get(client);
    if (state === undefined) return;
    for (const topic of topics) {
      const kind = subscriptionFor(state.session, topic);
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
