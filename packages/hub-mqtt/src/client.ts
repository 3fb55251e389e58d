import { createPrivateKey, type KeyObject, randomUUID } from "node:crypto";
import { createSasToken } from "@skittlesorter/attestation";
import {
  abortable,
  type Clock,
  checkDurationMs,
  type Deferred,
  deferred,
  delay,
  endMqttClient,
  type Logger,
  linkSignals,
  noopLogger,
  packageUserAgent,
  resolveMqttEndpoint,
  systemClock,
} from "@skittlesorter/core";
import {
  certificateFacts,
  checkCsrFor,
  type IssuedCertificateChain,
  publicKeysMatch,
  splitPemBundle,
} from "@skittlesorter/csr";
import { type IClientOptions, type MqttClient, connect as mqttConnect } from "mqtt";
import { classifyConnectError, type MqttConnect, publishOn, waitForConnack } from "./connection.ts";
import { HubError, UNAUTHORIZED_HINT } from "./errors.ts";
import { checkIssuedChain } from "./issued-chain.ts";
import {
  backoffDelayMs,
  CREDENTIALS_RESPONSE_FILTER,
  c2dFilter,
  certificatesFromAnswer,
  decodePayload,
  deviceResourceUri,
  HUB_RENEWAL_API_VERSION,
  HUB_WEBSOCKET_PATH,
  hubUsername,
  issueCertificateBody,
  issueCertificateTopic,
  isTransientStatus,
  METHODS_FILTER,
  methodResponseTopic,
  parseC2dTopic,
  parseDesiredTopic,
  parseErrorDetails,
  parseMethodTopic,
  parseResponseTopic,
  type ResponseTopic,
  renewalRetryDelayMs,
  type TelemetrySystemProperties,
  TWIN_DESIRED_FILTER,
  TWIN_RESPONSE_FILTER,
  telemetryTopic,
  twinGetTopic,
  twinPatchTopic,
} from "./protocol.ts";

/** `mqtts`: MQTT over TLS, port 8883. `wss`: MQTT over WebSocket, port 443, path `/$iothub/websocket`. */
export type HubTransport = "mqtts" | "wss";

/** How the device authenticates. Swap with {@link HubClient.setCredentials}; used from the next connect. */
export type HubCredentials =
  | {
      kind: "x509";
      /** The device certificate followed by its chain (leaf → issuing CA…), PEM; its CN must be the device id. */
      certificatePem: string;
      /** The certificate's private key, PEM. */
      privateKeyPem: string;
    }
  | {
      kind: "sas";
      /** The device's base64 symmetric key; a fresh SAS token is made for every connect. */
      deviceKey: string;
      /** Lifetime of each token. Default 3600. */
      ttlSeconds?: number | undefined;
    };

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

export interface TwinOptions {
  signal?: AbortSignal | undefined;
}

/** The device's twin as the device sees it. */
export interface Twin {
  desired: Record<string, unknown> & { $version?: number };
  reported: Record<string, unknown> & { $version?: number };
}

export interface C2dMessage {
  body: Buffer;
  /** Application properties. */
  properties: Record<string, string>;
  /** System properties, by wire name (`$.mid`, `$.cid`, `$.ct`, `iothub-ack`…). */
  system: Record<string, string>;
  topic: string;
}

export interface MethodRequest {
  name: string;
  /** The JSON payload (or the text when it is not JSON; `undefined` when empty). */
  payload: unknown;
  requestId: string;
}

export interface MethodResponse {
  /** The status the caller of the method sees, e.g. 200. */
  status: number;
  /** JSON-serialisable. */
  payload?: unknown;
}

export type MethodHandler = (request: MethodRequest) => MethodResponse | Promise<MethodResponse>;

/** The CSR to renew with, and the public key the issued leaf must carry. */
export interface RenewalCsr {
  /** base64 DER (the `wire` of `createCsr`) or PEM; CN = device id. */
  wire: string;
  publicKey: KeyObject;
}

export interface RenewCertificateOptions {
  csr: RenewalCsr;
  /** `"*"` or a pending request's id: cancel that request on the hub and start this one (`replace`). */
  replace?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface RenewalResult {
  /** The issued chain, leaf first, checked against the CSR. */
  chain: IssuedCertificateChain;
  /** The hub's `correlationId`, for support. */
  correlationId: string | undefined;
  /** The `$rid` of the request that succeeded. */
  requestId: string;
}

export interface HubEvents {
  /** A connection is up (CONNACK and subscriptions done). */
  connected: { attempt: number };
  /** The connection dropped (or `reconnect()` was called); the client is reconnecting. */
  disconnected: { error: Error | undefined };
  /** A connection attempt failed; the next one follows after `delayMs`. */
  connectFailed: { error: HubError; attempt: number; delayMs: number };
  /** A desired-properties patch from the service. */
  desiredProperties: { patch: Record<string, unknown>; version: number | undefined };
  /** A cloud-to-device message. */
  c2dMessage: C2dMessage;
}

type Listener<K extends keyof HubEvents> = (event: HubEvents[K]) => void;

interface Settings {
  hostName: string;
  deviceId: string;
  connectHost: string;
  port: number;
  transport: HubTransport;
  ca: IClientOptions["ca"];
  apiVersion: string;
  userAgent: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  renewalTimeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  keepAliveSeconds: number;
  logger: Logger;
  clock: Clock;
  random: () => number;
  connect: MqttConnect;
  newRequestId: () => string;
}

interface Session {
  client: MqttClient;
  /** Aborted when the connection drops or is closed. */
  lost: AbortController;
  /** Removes the listeners this client added to `client`. */
  detach(): void;
}

interface Answer extends ResponseTopic {
  body: unknown;
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
  #credentials: HubCredentials;
  readonly #closing = new AbortController();
  readonly #listeners = new Map<keyof HubEvents, Set<(event: never) => void>>();
  readonly #methods = new Map<string, MethodHandler>();
  readonly #answers = new Map<string, (answer: Answer) => void>();
  readonly #connectedWaiters = new Set<Deferred<Session>>();
  #session: Session | undefined;
  #reconnectNow = false;
  #renewalInFlight = false;
  #credentialsRefused = false;
  #loop: Promise<void>;
  #closed: Promise<void> | undefined;

  constructor(options: HubClientOptions) {
    this.#settings = resolveSettings(options);
    this.deviceId = this.#settings.deviceId;
    this.#credentials = checkCredentials(options.credentials, this.deviceId);
    this.#loop = this.#run();
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.#session !== undefined;
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
    await this.#whenConnected(options.signal);
  }

  /**
   * Sends a device-to-cloud message (QoS 1) and resolves on PUBACK. While disconnected it waits for the next
   * connection; a message whose PUBACK was lost with the connection is sent again (at least once).
   */
  async sendTelemetry(body: string | Buffer | Uint8Array, options: SendTelemetryOptions = {}): Promise<void> {
    const { properties, signal, ...system } = options;
    const topic = telemetryTopic(this.deviceId, system, properties ?? {});
    const payload = typeof body === "string" ? body : Buffer.from(body);
    await this.#publishReliably(topic, payload, signal);
    this.#settings.logger.debug("hub telemetry sent", { bytes: Buffer.byteLength(payload) });
  }

  /** Reads the twin (`$iothub/twin/GET`). */
  async getTwin(options: TwinOptions = {}): Promise<Twin> {
    const answer = await this.#twinRequest(twinGetTopic, "", options.signal);
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
    const answer = await this.#twinRequest(twinPatchTopic, JSON.stringify(patch), options.signal);
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
    if (this.#closing.signal.aborted) return Promise.reject(this.#closing.signal.reason);
    if (this.#settings.apiVersion !== HUB_RENEWAL_API_VERSION) {
      return Promise.reject(
        new HubError(
          "HUB_RENEWAL_UNSUPPORTED",
          `Certificate renewal through the hub needs api-version ${HUB_RENEWAL_API_VERSION} on the connection; this client uses ${this.#settings.apiVersion}. Leave apiVersion at its default.`,
        ),
      );
    }
    if (this.#credentialsRefused) {
      return Promise.reject(
        new HubError(
          "HUB_RENEWAL_UNSUPPORTED",
          `IoT Hub refused the subscription to ${CREDENTIALS_RESPONSE_FILTER}: this hub (or this device) has no certificate management. Renew through DPS instead.`,
        ),
      );
    }
    this.#renewalInFlight = true;
    return this.#renew(options).finally(() => {
      this.#renewalInFlight = false;
    });
  }

  /** Replaces the credentials for the next connect (the live connection is not touched; see `reconnect`). */
  setCredentials(credentials: HubCredentials): void {
    this.#credentials = checkCredentials(credentials, this.deviceId);
    this.#settings.logger.info("hub credentials replaced; used from the next connect", {
      auth: credentials.kind,
    });
  }

  /** Drops the current connection and connects again at once (with the current credentials). */
  reconnect(): void {
    if (this.#session === undefined) return;
    this.#reconnectNow = true;
    this.#session.lost.abort(new Error("reconnect requested"));
  }

  /** Disconnects and stops reconnecting; pending operations reject with `HUB_CLOSED`. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(new HubError("HUB_CLOSED", `The hub client of "${this.deviceId}" was closed.`));
      await this.#loop;
      this.#listeners.clear();
      this.#methods.clear();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // -------------------------------------------------------------------------------------------------------
  // Connection loop

  async #run(): Promise<void> {
    const { logger, clock } = this.#settings;
    let attempt = 0;
    while (!this.#closing.signal.aborted) {
      let session: Session;
      try {
        session = await this.#openSession();
      } catch (error) {
        if (this.#closing.signal.aborted) break;
        const problem = classifyConnectError(error, this.#where(), this.deviceId);
        const delayMs = backoffDelayMs(attempt, this.#settings, this.#settings.random);
        attempt += 1;
        logger.warn("hub connect failed; retrying", {
          code: problem.code,
          problem: problem.message,
          attempt,
          delayMs,
        });
        this.#emit("connectFailed", { error: problem, attempt, delayMs });
        try {
          await delay(delayMs, { signal: this.#closing.signal, clock });
        } catch {
          break;
        }
        continue;
      }
      logger.info("hub connected", { deviceId: this.deviceId, attempt });
      this.#session = session;
      this.#emit("connected", { attempt });
      for (const waiter of this.#connectedWaiters) waiter.resolve(session);
      attempt = 0;

      await untilAborted([session.lost.signal, this.#closing.signal]);
      this.#session = undefined;
      await this.#endSession(session);
      if (this.#closing.signal.aborted) break;
      const reason = session.lost.signal.reason as Error | undefined;
      logger.warn("hub connection lost; reconnecting", { problem: reason?.message });
      this.#emit("disconnected", { error: reason });
      if (this.#reconnectNow) {
        this.#reconnectNow = false;
        continue;
      }
      const delayMs = backoffDelayMs(attempt, this.#settings, this.#settings.random);
      attempt += 1;
      try {
        await delay(delayMs, { signal: this.#closing.signal, clock });
      } catch {
        break;
      }
    }
  }

  async #openSession(): Promise<Session> {
    const { connect, clock, connectTimeoutMs, logger } = this.#settings;
    const clientOptions = this.#clientOptions();
    const attemptBound = new AbortController();
    const handle = clock.setTimeout(() => {
      attemptBound.abort(
        new HubError(
          "HUB_CONNECTION_FAILED",
          `No connection to ${this.#where()} within ${connectTimeoutMs} ms.`,
        ),
      );
    }, connectTimeoutMs);
    const client = connect({ ...clientOptions, reconnectPeriod: 0 });
    const session: Session = {
      client,
      lost: new AbortController(),
      detach: () => {
        client.removeListener("message", onMessage);
        client.removeListener("close", onClose);
        client.removeListener("error", onError);
      },
    };
    const onMessage = (topic: string, payload: Buffer): void => this.#onMessage(session, topic, payload);
    const onClose = (): void => {
      if (!session.lost.signal.aborted) session.lost.abort(new Error("the connection to IoT Hub was lost"));
    };
    const onError = (error: Error): void => {
      logger.debug("hub connection error", { error: error.message });
      if (!session.lost.signal.aborted) session.lost.abort(error);
    };
    try {
      await waitForConnack(client, [this.#closing.signal, attemptBound.signal]);
      client.on("message", onMessage);
      client.on("close", onClose);
      client.on("error", onError);
      const bounds = [this.#closing.signal, attemptBound.signal, session.lost.signal];
      // mqtt.js fails a whole SUBSCRIBE when one filter is refused: the essential ones go in one packet…
      try {
        await abortable(
          client.subscribeAsync({
            [TWIN_RESPONSE_FILTER]: { qos: 0 },
            [TWIN_DESIRED_FILTER]: { qos: 0 },
            [METHODS_FILTER]: { qos: 0 },
            [c2dFilter(this.deviceId)]: { qos: 1 },
          }),
          bounds,
        );
      } catch (error) {
        if (!isSubackRefusal(error)) throw error;
        throw new HubError(
          "HUB_PROTOCOL_ERROR",
          "IoT Hub refused the twin, method or C2D subscriptions; check that the host is an IoT Hub and the device id.",
          { cause: error },
        );
      }
      // …and the credentials topic in its own, because a hub without certificate management may refuse it:
      // the client stays usable, only renewal is off.
      this.#credentialsRefused = false;
      if (this.#settings.apiVersion === HUB_RENEWAL_API_VERSION) {
        try {
          await abortable(client.subscribeAsync(CREDENTIALS_RESPONSE_FILTER, { qos: 1 }), bounds);
        } catch (error) {
          if (!isSubackRefusal(error)) throw error;
          this.#credentialsRefused = true;
          logger.warn("hub refused the certificate-renewal subscription; renewCertificate is unavailable", {
            filter: CREDENTIALS_RESPONSE_FILTER,
          });
        }
      }
      return session;
    } catch (error) {
      session.lost.abort(error);
      await this.#endSession(session, true);
      throw error;
    } finally {
      clock.clearTimeout(handle);
    }
  }

  /** Ends the connection and detaches every listener this client added. */
  async #endSession(session: Session, force = false): Promise<void> {
    await endMqttClient(session.client, { force });
    session.detach();
  }

  #clientOptions(): IClientOptions {
    const s = this.#settings;
    const credentials = this.#credentials;
    const username = hubUsername(s.hostName, s.deviceId, s.apiVersion, s.userAgent);
    s.logger.debug("hub connecting", {
      host: s.connectHost,
      port: s.port,
      transport: s.transport,
      username,
      auth: credentials.kind,
    });
    const options: IClientOptions = {
      protocol: s.transport,
      host: s.connectHost,
      port: s.port,
      clientId: s.deviceId,
      username,
      protocolId: "MQTT",
      protocolVersion: 4,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: s.connectTimeoutMs,
      keepalive: s.keepAliveSeconds,
      rejectUnauthorized: true,
      resubscribe: false,
      queueQoSZero: false,
      // mqtt-packet's number cache is 65,536 two-byte Buffers (about 6 MiB of heap), kept for the process's life
      // to save an allocation per packet id: not worth it at a device's message rate.
      writeCache: false,
    };
    if (s.transport === "wss") options.path = HUB_WEBSOCKET_PATH;
    if (s.ca !== undefined) options.ca = s.ca;
    if (credentials.kind === "sas") {
      options.password = createSasToken(deviceResourceUri(s.hostName, s.deviceId), credentials.deviceKey, {
        clock: s.clock,
        ttlSeconds: credentials.ttlSeconds,
      });
    } else {
      options.cert = credentials.certificatePem;
      options.key = credentials.privateKeyPem;
    }
    return options;
  }

  #where(): string {
    const s = this.#settings;
    return `${s.transport}://${s.connectHost}:${s.port}`;
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

  async #whenConnected(signal: AbortSignal | undefined): Promise<Session> {
    if (this.#closing.signal.aborted) throw this.#closing.signal.reason;
    signal?.throwIfAborted();
    if (this.#session !== undefined) return this.#session;
    const waiter = deferred<Session>();
    this.#connectedWaiters.add(waiter);
    try {
      return await abortable(waiter.promise, [signal, this.#closing.signal]);
    } finally {
      this.#connectedWaiters.delete(waiter);
      waiter.promise.catch(() => {});
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Requests

  /** Waits `ms` on the clock; rejects with the reason of `signal` or of `close()`. */
  async #sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const linked = linkSignals([signal, this.#closing.signal]);
    try {
      await delay(ms, { signal: linked.signal, clock: this.#settings.clock });
    } finally {
      linked.dispose();
    }
  }

  /** Publishes, waiting for a connection first; when the connection drops before the PUBACK, sends again. */
  async #publishReliably(
    topic: string,
    payload: string | Buffer,
    signal: AbortSignal | undefined,
  ): Promise<Session> {
    for (;;) {
      const session = await this.#whenConnected(signal);
      try {
        await abortable(publishOn(session.client, topic, payload, 1), [
          signal,
          this.#closing.signal,
          session.lost.signal,
        ]);
        return session;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (this.#closing.signal.aborted) throw this.#closing.signal.reason;
        if (session.lost.signal.aborted) {
          this.#settings.logger.debug("hub publish interrupted by a lost connection; sending again", {
            topic,
          });
          continue;
        }
        throw new HubError("HUB_PROTOCOL_ERROR", `Publishing on ${topic} failed: ${messageOf(error)}`, {
          cause: error,
        });
      }
    }
  }

  async #twinRequest(
    topicFor: (rid: string) => string,
    payload: string,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    const { clock, requestTimeoutMs, logger } = this.#settings;
    let attempt = 0;
    for (;;) {
      const rid = this.#settings.newRequestId();
      const answer = deferred<Answer>();
      this.#answers.set(rid, (received) => answer.resolve(received));
      const timeout = new AbortController();
      const handle = clock.setTimeout(() => {
        timeout.abort(
          new HubError(
            "HUB_TIMEOUT",
            `IoT Hub did not answer ${topicFor(rid)} within ${requestTimeoutMs} ms.`,
            {
              requestId: rid,
            },
          ),
        );
      }, requestTimeoutMs);
      let received: Answer;
      try {
        const bounded = linkSignals([signal, timeout.signal]);
        let session: Session;
        try {
          session = await this.#publishReliably(topicFor(rid), payload, bounded.signal);
        } finally {
          bounded.dispose();
        }
        try {
          received = await abortable(answer.promise, [
            signal,
            this.#closing.signal,
            timeout.signal,
            session.lost.signal,
          ]);
        } catch (error) {
          // Twin answers are not kept for a dropped session: ask again on the next one.
          if (
            session.lost.signal.aborted &&
            !signal?.aborted &&
            !this.#closing.signal.aborted &&
            !timeout.signal.aborted
          ) {
            continue;
          }
          throw error;
        }
      } finally {
        clock.clearTimeout(handle);
        this.#answers.delete(rid);
        answer.promise.catch(() => {});
      }
      if (received.statusCode < 300) return received;
      const details = parseErrorDetails(received.body);
      if (isTransientStatus(received.statusCode)) {
        const delayMs =
          received.retryAfterSeconds === undefined
            ? backoffDelayMs(attempt, this.#settings, this.#settings.random)
            : received.retryAfterSeconds * 1000;
        attempt += 1;
        logger.warn("hub twin request throttled or failed transiently; retrying", {
          statusCode: received.statusCode,
          errorCode: details.errorCode,
          delayMs,
        });
        await this.#sleep(delayMs, signal);
        continue;
      }
      throw answerError(received, details, "twin request", this.deviceId);
    }
  }

  async #renew(options: RenewCertificateOptions): Promise<RenewalResult> {
    const { clock, logger, renewalTimeoutMs } = this.#settings;
    const signal = options.signal;
    signal?.throwIfAborted();
    const csrWire = await checkCsr(options.csr, this.deviceId);
    if (
      options.replace !== undefined &&
      !/^(\*|[A-Za-z0-9](?:[A-Za-z0-9-]{2,34})[A-Za-z0-9])$/.test(options.replace)
    ) {
      throw new HubError(
        "HUB_INVALID_OPTIONS",
        `replace must be "*" or a request id of 4–36 letters, digits and inner hyphens, got ${JSON.stringify(options.replace)}.`,
      );
    }
    let attempt = 0;
    for (;;) {
      const rid = this.#settings.newRequestId();
      const inbox: Answer[] = [];
      let wake = deferred<void>();
      this.#answers.set(rid, (received) => {
        inbox.push(received);
        wake.resolve();
      });
      const timeout = new AbortController();
      let handle: unknown;
      const arm = (): void => {
        clock.clearTimeout(handle);
        handle = clock.setTimeout(() => {
          timeout.abort(
            new HubError(
              "HUB_TIMEOUT",
              `IoT Hub sent no answer to certificate request ${rid} within ${renewalTimeoutMs} ms. Renew again later (with replace: "*" to cancel the pending request).`,
              { requestId: rid },
            ),
          );
        }, renewalTimeoutMs);
      };
      let retryDelayMs: number | undefined;
      try {
        arm();
        logger.info("hub certificate renewal requested", { requestId: rid, attempt });
        const bounded = linkSignals([signal, timeout.signal]);
        try {
          await this.#publishReliably(
            issueCertificateTopic(rid),
            issueCertificateBody(this.deviceId, csrWire, options.replace),
            bounded.signal,
          );
        } finally {
          bounded.dispose();
        }
        // The answers survive a reconnect (clean: false), so a dropped connection does not end the wait.
        while (retryDelayMs === undefined) {
          if (inbox.length === 0) {
            await abortable(wake.promise, [signal, this.#closing.signal, timeout.signal]);
            wake = deferred<void>();
          }
          const received = inbox.shift() as Answer;
          if (received.statusCode === 202 || isConflictWithItself(received, rid)) {
            // A 409 naming this very request answers a copy sent again after a dropped connection: the
            // original is active, so keep waiting for its answers.
            logger.debug("hub certificate request accepted", {
              requestId: rid,
              statusCode: received.statusCode,
            });
            arm();
            continue;
          }
          if (received.statusCode === 200) {
            const parsed = certificatesFromAnswer(received.body);
            if (typeof parsed === "string") {
              throw new HubError(
                "HUB_PROTOCOL_ERROR",
                `IoT Hub answered the certificate request with 200 but ${parsed}.`,
                {
                  statusCode: 200,
                  requestId: rid,
                },
              );
            }
            const chain = checkIssuedChain(parsed.chain, {
              deviceId: this.deviceId,
              publicKey: options.csr.publicKey,
              clock,
            });
            logger.info("hub certificate issued", {
              requestId: rid,
              certificates: chain.pems.length,
              notAfter: chain.certificates[0]?.notAfter.toISOString(),
            });
            return { chain, correlationId: parsed.correlationId, requestId: rid };
          }
          const details = parseErrorDetails(received.body);
          retryDelayMs = renewalRetryDelayMs(
            received.statusCode,
            attempt,
            received.retryAfterSeconds,
            this.#settings,
            this.#settings.random,
          );
          if (retryDelayMs === undefined)
            throw answerError(received, details, "certificate request", this.deviceId);
          logger.warn("hub certificate request refused transiently; retrying", {
            requestId: rid,
            statusCode: received.statusCode,
            errorCode: details.errorCode,
            delayMs: retryDelayMs,
          });
        }
      } finally {
        clock.clearTimeout(handle);
        this.#answers.delete(rid);
        wake.promise.catch(() => {});
      }
      attempt += 1;
      await this.#sleep(retryDelayMs, signal);
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
      void this.#handleMethod(session, method.name, method.rid, payload);
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

  async #handleMethod(session: Session, name: string, rid: string, payload: Buffer): Promise<void> {
    const handler = this.#methods.get(name);
    let response: MethodResponse;
    if (handler === undefined) {
      response = { status: 404, payload: { message: `The device does not implement method "${name}".` } };
    } else {
      try {
        response = await handler({ name, payload: decodePayload(payload), requestId: rid });
        if (!Number.isInteger(response?.status))
          throw new TypeError("the handler returned no integer status");
      } catch (error) {
        this.#settings.logger.warn("hub method handler failed", { method: name, error: messageOf(error) });
        response = { status: 500, payload: { message: `Method "${name}" failed on the device.` } };
      }
    }
    const body = response.payload === undefined ? "" : JSON.stringify(response.payload);
    if (session.lost.signal.aborted) {
      this.#settings.logger.warn("hub method response dropped: the connection it came on is gone", {
        method: name,
      });
      return;
    }
    try {
      await publishOn(session.client, methodResponseTopic(response.status, rid), body, 0);
    } catch (error) {
      this.#settings.logger.warn("hub method response failed", { method: name, error: messageOf(error) });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function answerError(
  received: Answer,
  details: ReturnType<typeof parseErrorDetails>,
  what: string,
  deviceId: string,
): HubError {
  const parts = [`status ${received.statusCode}`];
  if (details.errorCode !== undefined) parts.push(`errorCode ${details.errorCode}`);
  if (details.message !== undefined) parts.push(JSON.stringify(details.message));
  if (details.trackingId !== undefined) parts.push(`trackingId ${details.trackingId}`);
  const fields = {
    statusCode: received.statusCode,
    errorCode: details.errorCode,
    trackingId: details.trackingId,
    timestampUtc: details.timestampUtc,
    info: details.info,
    requestId: received.rid,
  };
  if (received.statusCode === 401) {
    return new HubError(
      "HUB_UNAUTHORIZED",
      `IoT Hub refused the ${what} of "${deviceId}" (${parts.join(", ")}). ${UNAUTHORIZED_HINT}`,
      fields,
    );
  }
  const hint =
    received.statusCode === 409
      ? ' Another certificate request of this device is active on the hub: wait for it, or renew with replace: "*" to cancel it.'
      : received.statusCode === 400
        ? " Check the request: the CSR must be base64 DER PKCS#10 (at most 8 KB) with CN = device id."
        : "";
  return new HubError(
    "HUB_REQUEST_REJECTED",
    `IoT Hub rejected the ${what} (${parts.join(", ")}).${hint}`,
    fields,
  );
}

/** Resolves when the first of `signals` aborts; its listeners are removed then. */
function untilAborted(signals: readonly AbortSignal[]): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signals.some((signal) => signal.aborted)) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      for (const signal of signals) signal.removeEventListener("abort", onAbort);
      resolve();
    };
    for (const signal of signals) signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * mqtt.js 5 rejects a whole SUBSCRIBE when the SUBACK refuses one of its filters, with an `ErrorWithSubackPacket`
 * carrying the SUBACK (`packet.granted`; 0x80 = failure in MQTT 3.1.1).
 */
function isSubackRefusal(error: unknown): boolean {
  const granted = (error as { packet?: { granted?: unknown } } | undefined)?.packet?.granted;
  return Array.isArray(granted) && granted.some((code) => typeof code === "number" && (code & 0x80) !== 0);
}

function isConflictWithItself(received: Answer, rid: string): boolean {
  return received.statusCode === 409 && parseErrorDetails(received.body).info?.requestId === rid;
}

function objectOr(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function versionOf(patch: unknown): number | undefined {
  const version = objectOr(patch).$version;
  return typeof version === "number" ? version : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function checkCredentials(credentials: HubCredentials, deviceId: string): HubCredentials {
  const invalid = (message: string, cause?: unknown): HubError =>
    new HubError("HUB_INVALID_OPTIONS", message, { cause });
  if (credentials?.kind === "sas") {
    try {
      // Validates the key (and ttl) once, without keeping the token.
      createSasToken(deviceResourceUri("validation", deviceId), credentials.deviceKey, {
        ttlSeconds: credentials.ttlSeconds,
      });
    } catch (error) {
      throw invalid(`credentials.deviceKey is unusable: ${messageOf(error)}`, error);
    }
    return { ...credentials };
  }
  if (credentials?.kind !== "x509") {
    throw invalid(
      'credentials is required: { kind: "x509", certificatePem, privateKeyPem } or { kind: "sas", deviceKey }.',
    );
  }
  let leafPem: string | undefined;
  let facts: ReturnType<typeof certificateFacts>;
  try {
    leafPem = splitPemBundle(credentials.certificatePem)[0];
    if (leafPem === undefined) throw new TypeError("no PEM certificate found");
    facts = certificateFacts(leafPem);
  } catch (error) {
    throw invalid(`credentials.certificatePem is not a PEM certificate chain (${messageOf(error)}).`, error);
  }
  if (facts.commonName !== deviceId) {
    throw invalid(
      `The certificate's CN is ${JSON.stringify(facts.commonName ?? null)}, but IoT Hub needs CN = device id "${deviceId}"; use the certificate issued for this device.`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(credentials.privateKeyPem);
  } catch (error) {
    throw invalid("credentials.privateKeyPem is not a readable PEM private key.", error);
  }
  if (!publicKeysMatch(key, facts.publicKey)) {
    throw invalid(
      "credentials.privateKeyPem does not belong to the certificate; pass the key the certificate was issued for.",
    );
  }
  return { ...credentials };
}

async function checkCsr(csr: RenewalCsr, deviceId: string): Promise<string> {
  const invalid = (message: string, cause?: unknown): HubError =>
    new HubError("HUB_INVALID_OPTIONS", message, { cause });
  if (typeof csr?.wire !== "string")
    throw invalid("csr.wire is required: the CSR as base64 DER (createCsr().wire) or PEM.");
  const wire = csr.wire
    .replace(/-----BEGIN [A-Z ]+-----/g, "")
    .replace(/-----END [A-Z ]+-----/g, "")
    .replace(/\s+/g, "");
  const verdict = await checkCsrFor(wire, {
    commonName: deviceId,
    commonNameRole: "device id",
    publicKey: csr.publicKey,
  });
  if (!verdict.valid) throw invalid(verdict.problem, verdict.cause);
  if (wire.length > 8192)
    throw invalid(`The CSR is ${wire.length} base64 characters; IoT Hub accepts at most 8192.`);
  return wire;
}

function resolveSettings(options: HubClientOptions): Settings {
  const invalid = (message: string): HubError => new HubError("HUB_INVALID_OPTIONS", message);
  if (typeof options?.hostName !== "string" || options.hostName.trim() === "") {
    throw invalid(
      "hostName is required: the hub's host name, e.g. skittle-hub.azure-devices.net (DPS assignedHub).",
    );
  }
  if (
    typeof options.deviceId !== "string" ||
    !/^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/.test(options.deviceId)
  ) {
    throw invalid(
      `deviceId must be 1–128 characters of letters, digits and - . % _ * ? ! ( ) , : = @ $ ', got ${JSON.stringify(options.deviceId)}.`,
    );
  }
  const { transport, port, keepAliveSeconds, ca } = resolveMqttEndpoint(options, invalid);
  const duration = (name: string, value: number | undefined, fallback: number, min = 1): number =>
    checkDurationMs(name, value ?? fallback, min, invalid);
  const initialBackoffMs = duration("initialBackoffMs", options.initialBackoffMs, 1_000, 0);
  const maxBackoffMs = duration("maxBackoffMs", options.maxBackoffMs, 60_000, 0);
  if (maxBackoffMs < initialBackoffMs) {
    throw invalid(`maxBackoffMs (${maxBackoffMs}) is below initialBackoffMs (${initialBackoffMs}).`);
  }
  return {
    hostName: options.hostName.trim(),
    deviceId: options.deviceId,
    connectHost: (options.connectHost ?? options.hostName).trim(),
    port,
    transport,
    ca,
    apiVersion: options.apiVersion ?? HUB_RENEWAL_API_VERSION,
    userAgent:
      options.userAgent ??
      packageUserAgent("skittlesorter-hub-mqtt", new URL("../package.json", import.meta.url)),
    connectTimeoutMs: duration("connectTimeoutMs", options.connectTimeoutMs, 30_000),
    requestTimeoutMs: duration("requestTimeoutMs", options.requestTimeoutMs, 60_000),
    renewalTimeoutMs: duration("renewalTimeoutMs", options.renewalTimeoutMs, 120_000),
    initialBackoffMs,
    maxBackoffMs,
    keepAliveSeconds,
    logger: options.logger ?? noopLogger,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    connect: options.connect ?? mqttConnect,
    newRequestId: options.newRequestId ?? randomUUID,
  };
}
