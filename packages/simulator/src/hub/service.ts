import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { type Clock, type Logger, mergePatch } from "@skittlesorter/core";
import type { AdrService } from "../adr/service.ts";
import { azureTimestamp } from "../azure-time.ts";
import { serviceError } from "../errors.ts";
import type { HubDevice, LinkedHub, StoredTelemetry, Twin } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import {
  HubAuthenticator,
  type HubAuthMethod,
  type HubCredentials,
  type HubRefusal,
  type HubSession,
} from "./auth.ts";
import { CloudToDevice } from "./c2d.ts";
import type { CredentialsSubscription as Credentials } from "./credentials.ts";
import { DirectMethods } from "./methods.ts";
import { ModuleRegistry, moduleKey } from "./modules.ts";
import { DeviceRegistry } from "./registry.ts";
import { HubSessions } from "./sessions.ts";
import { connectionAuthMethod, decode, parsePropertyBag, telemetryView } from "./telemetry.ts";
import { TelemetryBatch } from "./telemetry-batch.ts";
import { answerTwinRequest, checkTwinPatch, emptyTwin, MAX_TWIN_BYTES, patchedTwin } from "./twins.ts";

/** What a device subscribed to; server messages go only to matching subscriptions. */
export type HubSubscription =
  | "twinResponses"
  | "desiredUpdates"
  | "methods"
  | "cloudToDevice"
  | "moduleInputs"
  | Credentials;

/** One live device (or module) connection, as the MQTT front end exposes it to the service. */
export interface HubLink {
  readonly deviceId: string;
  /** Set for a module identity's connection. */
  readonly moduleId?: string;
  readonly hub: string;
  readonly authMethod: HubAuthMethod;
  readonly transport: "mqtt" | "mqtt-ws";
  readonly connectedAt: string;
  /**
   * Publishes to the device if it subscribed to `subscription`; false when it did not. `onAck` runs when the device
   * acknowledges (PUBACK), or once written for a QoS 0 subscription.
   */
  send(subscription: HubSubscription, topic: string, payload: Buffer, onAck?: () => void): boolean;
  subscribed(subscription: HubSubscription): boolean;
  /** What the device subscribed to so far. */
  subscriptions(): HubSubscription[];
  /** Closes the connection. */
  close(reason: string): void;
}

export interface HubConnectionEvent {
  deviceId: string;
  /** Set for a module's connection. */
  moduleId?: string;
  hub: string;
  state: "connected" | "disconnected";
  at: string;
  authMethod?: HubAuthMethod;
  reason?: string;
}

export interface HubServiceOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  adr: AdrService;
  /** Keep at most this many telemetry messages (oldest are pruned). */
  maxTelemetryMessages: number;
}

/** IoT Hub limits the simulator enforces. */
export const HUB_LIMITS = Object.freeze({
  /** Reported or desired properties document, bytes of JSON. */
  maxTwinBytes: MAX_TWIN_BYTES,
  /** Direct method payloads, bytes of JSON. */
  maxMethodPayloadBytes: 128 * 1024,
  minMethodTimeoutSeconds: 5,
  maxMethodTimeoutSeconds: 300,
  defaultMethodTimeoutSeconds: 30,
});

const TELEMETRY_TOPIC = /^devices\/([^/]+)(?:\/modules\/([^/]+))?\/messages\/events(?:\/(.*))?$/s;
const TWIN_REQUEST_TOPIC = /^\$iothub\/twin\/(GET|PATCH)\/(.*?)\?(.*)$/is;
const METHOD_RESPONSE_TOPIC = /^\$iothub\/methods\/res\/(\d{3})\/\?(.*)$/s;

/**
 * The simulator's IoT Hub: device authentication, telemetry, twins and direct methods. The MQTT front end
 * (`hub-endpoint.ts`) feeds it; the admin API reads from it. Emits `telemetry` (TelemetryView),
 * `connection` (HubConnectionEvent) and `twin` ({deviceId, hub, part, version}).
 */
export class HubService extends EventEmitter {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #adr: AdrService;
  readonly #telemetry: TelemetryBatch;
  readonly #links = new Map<string, HubLink>();
  readonly #lastConnection = new Map<string, HubConnectionEvent>();
  readonly #methods: DirectMethods;
  readonly #authenticator: HubAuthenticator;
  /** Subscriptions of persistent MQTT sessions. */
  readonly sessions: HubSessions;
  readonly cloudToDevice: CloudToDevice;
  readonly modules: ModuleRegistry;
  /** Device identities: the one path for creating, enabling, disabling and deleting devices. */
  readonly registry: DeviceRegistry;

  constructor(options: HubServiceOptions) {
    super();
    this.setMaxListeners(0);
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#adr = options.adr;
    this.#telemetry = new TelemetryBatch({
      store: this.#store,
      maxMessages: options.maxTelemetryMessages,
      stored: (message) => this.emit("telemetry", telemetryView(message)),
    });
    this.#methods = new DirectMethods({
      link: (deviceId) => this.#links.get(deviceId),
      logger: this.#logger,
      recordInvoked: (deviceId, methodName) =>
        this.#store.addEvent(this.#now(), "hub.methodInvoked", deviceId, { methodName }),
    });
    this.sessions = new HubSessions(this.#store);
    const link = (key: string) => this.#links.get(key);
    this.cloudToDevice = new CloudToDevice({ ...options, link });
    this.modules = new ModuleRegistry({
      ...options,
      device: (deviceId) => this.device(deviceId),
      link,
      forgetSession: (clientId) => this.sessions.forget(clientId),
      twinChanged: (event) => this.emit("twin", event),
    });
    this.registry = new DeviceRegistry({ ...options, hub: this });
    this.#authenticator = new HubAuthenticator({
      store: this.#store,
      clock: this.#clock,
      adr: this.#adr,
      device: (deviceId) => this.device(deviceId),
      module: (deviceId, moduleId) => this.modules.get(deviceId, moduleId),
    });
    // ADR manages the hub identities: disabling or deleting a device there applies here.
    this.#adr.onDeviceChange((change) => {
      const device = this.device(change.deviceId);
      if (device === undefined) return;
      if (change.deleted) this.registry.delete(device.deviceId, "*", "adr");
      else if ((device.status === "enabled") !== change.enabled) {
        this.registry.setStatus(device.deviceId, change.enabled ? "enabled" : "disabled", "adr");
      }
    });
  }

  #now(): string {
    return azureTimestamp(this.#clock.now());
  }

  /** The hubs this simulator serves itself (normally one). */
  localHubs(): LinkedHub[] {
    return this.#store.listHubs().filter((hub) => hub.local);
  }

  /** The local hub's device record. */
  device(deviceId: string): HubDevice | undefined {
    for (const hub of this.localHubs()) {
      const device = this.#store.getDevice(hub.name, deviceId);
      if (device !== undefined) return device;
    }
    return undefined;
  }

  /** The live connection of a device, or of a module (`{deviceId}/{moduleId}`). */
  link(key: string): HubLink | undefined {
    return this.#links.get(key);
  }

  connectionState(key: string): HubConnectionEvent | undefined {
    return this.#lastConnection.get(key);
  }

  // --- connect -----------------------------------------------------------------------------------

  /** Checks a CONNECT; throws {@link HubRefusal} with the CONNACK code and a reason. */
  authenticate(credentials: HubCredentials): HubSession {
    return this.#authenticator.authenticate(credentials);
  }

  /** Records a new connection; one per device (a previous one is closed). */
  attach(link: HubLink): void {
    const key = keyOf(link);
    const previous = this.#links.get(key);
    this.#links.set(key, link);
    if (previous !== undefined && previous !== link) previous.close("a new connection of the same device");
    const event: HubConnectionEvent = {
      deviceId: link.deviceId,
      ...(link.moduleId === undefined ? {} : { moduleId: link.moduleId }),
      hub: link.hub,
      state: "connected",
      at: link.connectedAt,
      authMethod: link.authMethod,
    };
    this.#lastConnection.set(key, event);
    this.#store.addEvent(event.at, "hub.connected", key, {
      authMethod: link.authMethod,
      transport: link.transport,
    });
    this.emit("connection", event);
  }

  /** The connection's CONNACK is out: queued cloud-to-device messages may go. */
  ready(link: HubLink): void {
    if (link.moduleId === undefined && this.#links.get(keyOf(link)) === link) {
      this.cloudToDevice.deliver(link.deviceId);
    }
  }

  detach(link: HubLink, reason: string): void {
    const key = keyOf(link);
    if (this.#links.get(key) !== link) return;
    this.#links.delete(key);
    const event: HubConnectionEvent = {
      deviceId: link.deviceId,
      ...(link.moduleId === undefined ? {} : { moduleId: link.moduleId }),
      hub: link.hub,
      state: "disconnected",
      at: this.#now(),
      authMethod: link.authMethod,
      reason,
    };
    this.#lastConnection.set(key, event);
    try {
      this.#store.addEvent(event.at, "hub.disconnected", key, { reason });
      if (link.moduleId === undefined) this.cloudToDevice.release(link.deviceId);
    } catch {
      // the store may be closing
    }
    this.emit("connection", event);
  }

  /** Closes the device's connection, if any. */
  disconnect(deviceId: string, reason: string): void {
    this.#links.get(deviceId)?.close(reason);
  }

  refused(credentials: HubCredentials, refusal: HubRefusal): void {
    this.#logger.info("IoT Hub connection refused", {
      clientId: credentials.clientId,
      reason: refusal.reason,
      message: refusal.message,
    });
    this.#store.addEvent(this.#now(), "hub.connectionRefused", credentials.clientId.slice(0, 128), {
      reason: refusal.reason,
      message: refusal.message,
    });
  }

  // --- publishes from devices -------------------------------------------------------------------

  /**
   * Handles a device PUBLISH. Telemetry resolves the returned promise once it is stored (acknowledge QoS 1 only
   * then). Throws when the topic is not one the device may publish to (the front end then disconnects it).
   */
  handlePublish(
    session: HubSession,
    topic: string,
    payload: Buffer,
    retain: boolean,
  ): Promise<number> | undefined {
    const telemetry = TELEMETRY_TOPIC.exec(topic);
    if (telemetry !== null) {
      const module = telemetry[2] === undefined ? undefined : decode(telemetry[2]);
      if (decode(telemetry[1] ?? "") !== session.deviceId || module !== session.moduleId) {
        const own = session.moduleId === undefined ? "" : `/modules/${session.moduleId}`;
        throw this.#publishRefused(
          session,
          topic,
          `a device or module can only send telemetry as itself (devices/${session.deviceId}${own}/messages/events/)`,
        );
      }
      return this.#storeTelemetry(session, telemetry[3] ?? "", payload, retain);
    }
    const twin = TWIN_REQUEST_TOPIC.exec(topic);
    if (twin !== null) {
      this.#twinRequest(
        session,
        (twin[1] ?? "").toUpperCase(),
        twin[2] ?? "",
        new URLSearchParams(twin[3]),
        payload,
      );
      return;
    }
    const method = METHOD_RESPONSE_TOPIC.exec(topic);
    if (method !== null) {
      this.#methods.answer(keyOf(session), Number(method[1]), new URLSearchParams(method[2]), payload);
      return;
    }
    throw this.#publishRefused(session, topic, "the topic is not one a device may publish to");
  }

  #publishRefused(session: HubSession, topic: string, why: string): Error {
    this.#logger.warn("IoT Hub publish refused; disconnecting", {
      deviceId: session.deviceId,
      topic: topic.slice(0, 200),
      why,
    });
    this.#store.addEvent(this.#now(), "hub.publishRefused", session.deviceId, {
      topic: topic.slice(0, 200),
      why,
    });
    return new Error(`publish to ${topic.slice(0, 200)} refused: ${why}`);
  }

  #storeTelemetry(session: HubSession, bag: string, payload: Buffer, retain: boolean): Promise<number> {
    const { system, application } = parsePropertyBag(bag);
    if (retain) application["mqtt-retain"] = "true";
    const enqueuedAt = this.#clock.now();
    const systemProperties: Record<string, string> = {
      ...system,
      connectionDeviceId: session.deviceId,
      ...(session.moduleId === undefined ? {} : { connectionModuleId: session.moduleId }),
      connectionAuthMethod: connectionAuthMethod(session.authMethod),
      enqueuedTime: azureTimestamp(enqueuedAt),
    };
    const message: Omit<StoredTelemetry, "id"> = {
      hub: session.hub,
      deviceId: session.deviceId,
      enqueuedAt,
      systemProperties,
      properties: application,
      body: Buffer.from(payload),
    };
    return this.#telemetry.add(message);
  }

  // --- twins -------------------------------------------------------------------------------------

  /** The device's twin, created (empty, versions 1) on first use. */
  twin(hub: string, deviceId: string): Twin {
    return this.#store.getTwin(hub, deviceId) ?? emptyTwin({ hub, deviceId }, this.#now());
  }

  #twinRequest(
    session: HubSession,
    verb: string,
    resource: string,
    query: URLSearchParams,
    payload: Buffer,
  ): void {
    const rid = query.get("$rid");
    if (rid === null || rid === "") return; // nothing to answer on
    const { hub, deviceId, moduleId } = session;
    const target =
      moduleId === undefined
        ? {
            read: () => this.twin(hub, deviceId),
            patchReported: (patch: Record<string, unknown>) =>
              this.#updateTwin(hub, deviceId, "reported", patch),
          }
        : {
            read: () => this.modules.twin(deviceId, moduleId),
            patchReported: (patch: Record<string, unknown>) =>
              this.modules.patchReported(deviceId, moduleId, patch),
          };
    answerTwinRequest(verb, resource, payload, target, (status, body, extra = "") => {
      const text = body === undefined ? "" : JSON.stringify(body);
      this.#links
        .get(keyOf(session))
        ?.send("twinResponses", `$iothub/twin/res/${status}/?$rid=${rid}${extra}`, Buffer.from(text));
    });
  }

  #updateTwin(
    hub: string,
    deviceId: string,
    part: "desired" | "reported",
    patch: Record<string, unknown>,
  ): Twin {
    const updated = patchedTwin(this.twin(hub, deviceId), part, patch, this.#now());
    this.#store.putTwin(updated);
    this.emit("twin", {
      deviceId,
      hub,
      part,
      version: part === "desired" ? updated.desiredVersion : updated.reportedVersion,
    });
    return updated;
  }

  /** Service side: patches desired properties (and tags) and pushes the desired patch to the connected device. */
  patchDesired(
    deviceId: string,
    patch: { desired?: Record<string, unknown> | undefined; tags?: Record<string, unknown> | undefined },
    ifMatch?: string | undefined,
  ): Twin {
    const device = this.#requireDevice(deviceId);
    const current = this.twin(device.hub, deviceId);
    if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== current.etag) {
      throw serviceError(
        "SIM_PRECONDITION_FAILED",
        "ETAG_MISMATCH",
        "The twin's etag changed; read the twin again and retry with its current etag.",
      );
    }
    let twin = current;
    if (patch.tags !== undefined) {
      const tags = mergePatch(twin.tags, checkTwinPatch(patch.tags, "tags"));
      twin = { ...twin, tags, version: twin.version + 1, etag: randomUUID() };
      this.#store.putTwin(twin);
    }
    if (patch.desired !== undefined) {
      const desired = checkTwinPatch(patch.desired, "desired properties");
      twin = this.#updateTwin(device.hub, deviceId, "desired", desired);
      const sent = this.#links
        .get(deviceId)
        ?.send(
          "desiredUpdates",
          `$iothub/twin/PATCH/properties/desired/?$version=${twin.desiredVersion}`,
          Buffer.from(JSON.stringify({ ...desired, $version: twin.desiredVersion })),
        );
      this.#logger.debug("desired properties updated", {
        deviceId,
        version: twin.desiredVersion,
        pushed: sent === true,
      });
    }
    return twin;
  }

  #requireDevice(deviceId: string): HubDevice {
    const device = this.device(deviceId);
    if (device === undefined) {
      throw serviceError(
        "SIM_NOT_FOUND",
        "DEVICE_NOT_FOUND",
        `Device "${deviceId}" is not in the hub's registry; provision it through DPS first (GET /admin/devices lists them).`,
      );
    }
    return device;
  }

  // --- direct methods ----------------------------------------------------------------------------

  /**
   * Invokes a direct method and resolves with the device's `{status, payload}`. Rejects with a SimulatorError:
   * `SIM_DEVICE_NOT_ONLINE` (not connected, or not subscribed to `$iothub/methods/POST/#`, within
   * `connectTimeoutMs`), `SIM_TIMEOUT` (no answer within `responseTimeoutMs`).
   */
  invokeMethod(
    deviceId: string,
    methodName: string,
    payload: unknown,
    options: { responseTimeoutMs: number; connectTimeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<{ status: number; payload: unknown }> {
    this.#requireDevice(deviceId);
    return this.#methods.invoke(deviceId, methodName, payload, options);
  }

  /** {@link invokeMethod} for a module's connection. */
  invokeModuleMethod(
    deviceId: string,
    moduleId: string,
    methodName: string,
    payload: unknown,
    options: { responseTimeoutMs: number; connectTimeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<{ status: number; payload: unknown }> {
    this.modules.require(deviceId, moduleId);
    return this.#methods.invoke(moduleKey(deviceId, moduleId), methodName, payload, options);
  }

  /** Stores the telemetry still pending and rejects every pending method call (shutdown). */
  close(): void {
    this.#telemetry.flush();
    this.#methods.close();
    this.removeAllListeners();
  }
}

/** The key of a connection: the MQTT client id, `{deviceId}` or `{deviceId}/{moduleId}`. */
function keyOf(link: { deviceId: string; moduleId?: string | undefined }): string {
  return link.moduleId === undefined ? link.deviceId : moduleKey(link.deviceId, link.moduleId);
}
