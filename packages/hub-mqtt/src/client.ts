import type { Clock, Logger } from "@skittlesorter/core";
import type { PendingRequests } from "./answers.ts";
import type { MqttConnect } from "./connection.ts";
import { checkCredentials, type HubCredentials } from "./credentials.ts";
import { HubError } from "./errors.ts";
import type { HubEvents, Listener } from "./events.ts";
import { handleMethod, type MethodHandler } from "./methods.ts";
import {
  CREDENTIALS_RESPONSE_FILTER,
  decodePayload,
  HUB_RENEWAL_API_VERSION,
  parseC2dTopic,
  parseDesiredTopic,
  parseMethodTopic,
  parseResponseTopic,
  type TelemetrySystemProperties,
  telemetryTopic,
  twinGetTopic,
  twinPatchTopic,
} from "./protocol.ts";
import { type RenewalResult, type RenewCertificateOptions, renewThroughHub } from "./renewal.ts";
import { type Session, SessionKeeper } from "./session-keeper.ts";
import { resolveSettings, type Settings } from "./settings.ts";
import { objectOr, requestTwin, type Twin, type TwinOptions, versionOf } from "./twin.ts";

/** `mqtts`: MQTT over TLS, port 8883. `wss`: MQTT over WebSocket, port 443, path `/$iothub/websocket`. */
export type HubTransport = "mqtts" | "wss";

export interface HubClientOptions {
  /** The hub's host name, e.g. `skittle-hub.azure-devices.net` (DPS `assignedHub`): the username and SAS resource. */
  hostName: string;
  deviceId: string;
  credentials: HubCredentials;
  /** Where to open the socket when it is not `hostName` (a gateway, a local simulator). Default `hostName`. */
  connectHost?: string | undefined;
  /** Default 8883 (`mqtts`) or 443 (`wss`). */
  port?: number | undefined;
  /** Default `mqtts`. */
  transport?: HubTransport | undefined;
  /** Trusted roots for the server's TLS certificate (PEM); default: the system roots. */
  ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined;
  /** Default `2025-08-01-preview` (needed for `renewCertificate`); `2021-04-12` is the classic surface. */
  apiVersion?: string | undefined;
  /** Sent as `DeviceClientType`. Default `skittlesorter-hub-mqtt/{version}`. */
  userAgent?: string | undefined;
  /** Bound of one connection attempt (TLS + CONNECT + SUBSCRIBE). Default 30 000. */
  connectTimeoutMs?: number | undefined;
  /** How long a twin request waits for its answer. Default 60 000. */
  requestTimeoutMs?: number | undefined;
  /** How long a renewal waits for its next answer; re-armed on each 202. Default 120 000 (the C SDK's value). */
  renewalTimeoutMs?: number | undefined;
  /** First reconnect backoff ceiling. Default 1 000. */
  initialBackoffMs?: number | undefined;
  /** Largest reconnect backoff ceiling. Default 60 000. */
  maxBackoffMs?: number | undefined;
  /** MQTT keep-alive in seconds. Default 60. */
  keepAliveSeconds?: number | undefined;
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  /** Random source in [0, 1) for jitter. Default `Math.random`. */
  random?: (() => number) | undefined;
  /** MQTT connector; default `mqtt.connect`. */
  connect?: MqttConnect | undefined;
  /** Makes `$rid`s; default `randomUUID`. */
  newRequestId?: (() => string) | undefined;
}

export interface ConnectHubOptions extends HubClientOptions {
  /** Aborts waiting for the first connection (the client is then closed). */
  signal?: AbortSignal | undefined;
}

export interface SendTelemetryOptions extends TelemetrySystemProperties {
  /** Application properties, sent URL-encoded in the topic. */
  properties?: Readonly<Record<string, string>> | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Connects a device to IoT Hub and resolves once the first connection is up. The client then keeps itself
 * connected until `close()`: it reconnects with backoff and jitter, never giving up.
 *
 * Rejects with `signal.reason` when aborted, or a {@link HubError} `HUB_INVALID_OPTIONS`.
 */
export async function connectHub(options: ConnectHubOptions): Promise<HubClient> {
  options.signal?.throwIfAborted();
  const client = new HubClient(options);
  try {
    await client.waitUntilConnected({ signal: options.signal });
    return client;
  } catch (error) {
    await client.close();
    throw error;
  }
}

/** An IoT Hub device client over MQTT 3.1.1. Create with {@link connectHub} (or `new`, then `waitUntilConnected`). */
export class HubClient {
  readonly deviceId: string;
  readonly #settings: Settings;
  readonly #listeners = new Map<keyof HubEvents, Set<(event: never) => void>>();
  readonly #methods = new Map<string, MethodHandler>();
  readonly #answers: PendingRequests = new Map();
  readonly #keeper: SessionKeeper;
  #renewalInFlight = false;
  #closed: Promise<void> | undefined;

  constructor(options: HubClientOptions) {
    this.#settings = resolveSettings(options);
    this.deviceId = this.#settings.deviceId;
    const credentials = checkCredentials(options.credentials, this.deviceId);
    this.#keeper = new SessionKeeper(this.#settings, credentials, {
      onMessage: (session, topic, payload) => this.#onMessage(session, topic, payload),
      emit: (event, payload) => this.#emit(event, payload),
    });
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.#keeper.session !== undefined;
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof HubEvents>(event: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (event: never) => void);
    return () => {
      set.delete(listener as (event: never) => void);
    };
  }

  /** Number of listeners of an event (diagnostics, leak checks). */
  listenerCount(event: keyof HubEvents): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /** Handles the direct method `name`; returns the function that removes the handler. Unhandled methods get 404. */
  onMethod(name: string, handler: MethodHandler): () => void {
    if (typeof name !== "string" || name === "") {
      throw new HubError("HUB_INVALID_OPTIONS", "onMethod needs a method name.");
    }
    this.#methods.set(name, handler);
    return () => {
      if (this.#methods.get(name) === handler) this.#methods.delete(name);
    };
  }

  /** Resolves when a connection is up (at once when it already is). */
  async waitUntilConnected(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    await this.#keeper.whenConnected(options.signal);
  }

  /**
   * Sends a device-to-cloud message (QoS 1) and resolves on PUBACK. While disconnected it waits for the next
   * connection; a message whose PUBACK was lost with the connection is sent again (at least once).
   */
  async sendTelemetry(body: string | Buffer | Uint8Array, options: SendTelemetryOptions = {}): Promise<void> {
    const { properties, signal, ...system } = options;
    const topic = telemetryTopic(this.deviceId, system, properties ?? {});
    const payload = typeof body === "string" ? body : Buffer.from(body);
    await this.#keeper.publishReliably(topic, payload, signal);
    this.#settings.logger.debug("hub telemetry sent", { bytes: Buffer.byteLength(payload) });
  }

  /** Reads the twin (`$iothub/twin/GET`). */
  async getTwin(options: TwinOptions = {}): Promise<Twin> {
    const answer = await requestTwin(this.#keeper, this.#answers, twinGetTopic, "", options.signal);
    const body = answer.body;
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HubError("HUB_PROTOCOL_ERROR", "IoT Hub answered the twin GET without a JSON object body.", {
        statusCode: answer.statusCode,
        requestId: answer.rid,
      });
    }
    const record = body as Record<string, unknown>;
    return {
      desired: objectOr(record.desired) as Twin["desired"],
      reported: objectOr(record.reported) as Twin["reported"],
    };
  }

  /** Patches the reported properties; resolves with the new reported `$version` when the hub says it. */
  async updateReportedProperties(
    patch: Readonly<Record<string, unknown>>,
    options: TwinOptions = {},
  ): Promise<{ version: number | undefined }> {
    if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
      throw new HubError("HUB_INVALID_OPTIONS", "updateReportedProperties needs a JSON object patch.");
    }
    const answer = await requestTwin(
      this.#keeper,
      this.#answers,
      twinPatchTopic,
      JSON.stringify(patch),
      options.signal,
    );
    return { version: answer.version };
  }

  /**
   * Asks the hub to issue a new certificate for `csr` (`$iothub/credentials`, 2025-08-01-preview): 202, then 200
   * with the chain, which is checked against the CSR (leaf CN = device id, leaf key = CSR key, chain verifies).
   * 429, 503 and 500 answers are retried; the live connection stays up, and the new certificate is used after
   * `setCredentials` on the next connect. One renewal per client at a time: a second call fails at once with
   * `HUB_RENEWAL_IN_PROGRESS`.
   */
  renewCertificate(options: RenewCertificateOptions): Promise<RenewalResult> {
    if (this.#renewalInFlight) {
      return Promise.reject(
        new HubError(
          "HUB_RENEWAL_IN_PROGRESS",
          `A certificate renewal for "${this.deviceId}" is already in flight on this client; wait for it to settle (or abort it) before starting another.`,
        ),
      );
    }
    if (this.#keeper.closing.aborted) return Promise.reject(this.#keeper.closing.reason);
    if (this.#settings.apiVersion !== HUB_RENEWAL_API_VERSION) {
      return Promise.reject(
        new HubError(
          "HUB_RENEWAL_UNSUPPORTED",
          `Certificate renewal through the hub needs api-version ${HUB_RENEWAL_API_VERSION} on the connection; this client uses ${this.#settings.apiVersion}. Leave apiVersion at its default.`,
        ),
      );
    }
    if (this.#keeper.credentialsRefused) {
      return Promise.reject(
        new HubError(
          "HUB_RENEWAL_UNSUPPORTED",
          `IoT Hub refused the subscription to ${CREDENTIALS_RESPONSE_FILTER}: this hub (or this device) has no certificate management. Renew through DPS instead.`,
        ),
      );
    }
    this.#renewalInFlight = true;
    return renewThroughHub(this.#keeper, this.#answers, options).finally(() => {
      this.#renewalInFlight = false;
    });
  }

  /** Replaces the credentials for the next connect (the live connection is not touched; see `reconnect`). */
  setCredentials(credentials: HubCredentials): void {
    this.#keeper.replaceCredentials(checkCredentials(credentials, this.deviceId));
    this.#settings.logger.info("hub credentials replaced; used from the next connect", {
      auth: credentials.kind,
    });
  }

  /** Drops the current connection and connects again at once (with the current credentials). */
  reconnect(): void {
    this.#keeper.reconnect();
  }

  /** Disconnects and stops reconnecting; pending operations reject with `HUB_CLOSED`. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#keeper.stop(new HubError("HUB_CLOSED", `The hub client of "${this.deviceId}" was closed.`));
      this.#listeners.clear();
      this.#methods.clear();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #emit<K extends keyof HubEvents>(event: K, payload: HubEvents[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as Listener<K>)(payload);
      } catch (error) {
        this.#settings.logger.warn("hub event listener threw", {
          event,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Inbound

  #onMessage(session: Session, topic: string, payload: Buffer): void {
    const response = parseResponseTopic(topic);
    if (response !== undefined) {
      const handler = this.#answers.get(response.rid);
      if (handler === undefined) {
        this.#settings.logger.debug("hub ignoring an answer for an unknown or stale $rid", { topic });
        return;
      }
      handler({ ...response, body: decodePayload(payload) });
      return;
    }
    const method = parseMethodTopic(topic);
    if (method !== undefined) {
      void handleMethod(this.#methods, this.#settings.logger, session, method.name, method.rid, payload);
      return;
    }
    const desired = parseDesiredTopic(topic);
    if (desired !== undefined) {
      const patch = decodePayload(payload);
      this.#emit("desiredProperties", {
        patch: objectOr(patch),
        version: desired.version ?? versionOf(patch),
      });
      return;
    }
    let c2d: ReturnType<typeof parseC2dTopic>;
    try {
      c2d = parseC2dTopic(this.deviceId, topic);
    } catch {
      this.#settings.logger.warn("hub ignoring a C2D message with a malformed property bag", { topic });
      return;
    }
    if (c2d !== undefined) {
      this.#emit("c2dMessage", { body: Buffer.from(payload), topic, ...c2d });
      return;
    }
    this.#settings.logger.debug("hub ignoring a message on an unexpected topic", { topic });
  }
}
