import { randomUUID } from "node:crypto";
import {
  abortable,
  type Clock,
  type Deferred,
  deferred,
  endMqttClient,
  type Logger,
  UNTRUSTED_CERTIFICATE_CODES,
} from "@skittlesorter/core";
import type { IClientOptions, MqttClient } from "mqtt";
import { DpsError, UNAUTHORIZED_HINT } from "./errors.ts";
import { DPS_RESPONSE_TOPIC_FILTER, decodePayload, parseResponseTopic } from "./protocol.ts";

/**
 * Opens an MQTT connection; `mqtt.connect` by default. The options always carry
 * `reconnectPeriod: 0`: this client does its own reconnect-and-resume.
 */
export type MqttConnect = (options: IClientOptions) => MqttClient;

/**
 * Sends each packet at once. The poll follows the PUBACK of DPS's 202 immediately: with Nagle's algorithm it would
 * wait for DPS's delayed ACK of that PUBACK (about 40 ms on Linux) before leaving. mqtt.js creates its socket in
 * `connect` and does not pass `noDelay` on to `tls.connect`, so it is set here (a WebSocket stream has no such switch).
 */
function disableNagle(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (noDelay: boolean) => unknown } | undefined;
  stream?.setNoDelay?.(true);
}

/** An answer matched to its request by `$rid`. */
export interface DpsAnswer {
  topic: string;
  statusCode: number;
  rid: string;
  retryAfterSeconds?: number;
  body: unknown;
}

/** The connection dropped (or was never usable); the operation may be resumed on a new one. */
export class TransientConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TransientConnectionError";
  }
}

export interface SessionOptions {
  connect: MqttConnect;
  clientOptions: IClientOptions;
  connectTimeoutMs: number;
  logger: Logger;
  clock: Clock;
  signal: AbortSignal;
  newRid?: () => string;
}

export interface RequestOptions {
  signal: AbortSignal;
  timeoutMs: number;
}

/** One MQTT connection to DPS with a single message listener that routes answers by `$rid`. */
export class DpsSession {
  readonly #client: MqttClient;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #newRid: () => string;
  readonly #pending = new Map<string, Deferred<DpsAnswer>>();
  readonly #lost = new AbortController();
  #closed: Promise<void> | undefined;

  private constructor(client: MqttClient, options: SessionOptions) {
    this.#client = client;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#newRid = options.newRid ?? randomUUID;
    client.on("message", this.#onMessage);
    client.on("close", this.#onClose);
    client.on("error", this.#onError);
  }

  /** Connects, waits for CONNACK and subscribes to `$dps/registrations/res/#`. */
  static async open(options: SessionOptions): Promise<DpsSession> {
    const { clientOptions, logger, clock } = options;
    const started = clock.now();
    let client: MqttClient;
    try {
      client = options.connect({ ...clientOptions, reconnectPeriod: 0 });
    } catch (error) {
      throw classifyConnectError(error, clientOptions);
    }
    disableNagle(client);
    try {
      await abortable(waitForConnack(client), [options.signal]);
    } catch (error) {
      client.end(true);
      if (options.signal.aborted && error === options.signal.reason) throw error;
      throw classifyConnectError(error, clientOptions);
    }
    const session = new DpsSession(client, options);
    try {
      await abortable(client.subscribeAsync(DPS_RESPONSE_TOPIC_FILTER, { qos: 1 }), [
        options.signal,
        session.#lost.signal,
      ]);
    } catch (error) {
      await session.close();
      if (options.signal.aborted && error === options.signal.reason) throw error;
      if (isSubackRefusal(error)) {
        // Final: retrying cannot help when the server is not a DPS endpoint.
        throw new DpsError(
          "DPS_PROTOCOL_ERROR",
          `The server refused the subscription to ${DPS_RESPONSE_TOPIC_FILTER}; check that the host is a DPS endpoint.`,
          { cause: error },
        );
      }
      throw error instanceof TransientConnectionError
        ? error
        : new TransientConnectionError(`subscribing failed: ${messageOf(error)}`, { cause: error });
    }
    logger.debug("dps connected", { elapsedMs: clock.now() - started });
    return session;
  }

  /** True once the connection has dropped or been closed. */
  get lost(): boolean {
    return this.#lost.signal.aborted;
  }

  /** The number of requests waiting for an answer (for tests and diagnostics). */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /**
   * Publishes (QoS 1) on the topic built for a fresh `$rid` and resolves with the answer carrying that
   * `$rid`. Rejects with a {@link TransientConnectionError} when the connection drops or no answer
   * arrives within `timeoutMs`, or with `signal.reason` on abort.
   */
  async request(
    topicFor: (rid: string) => string,
    payload: string,
    options: RequestOptions,
  ): Promise<DpsAnswer> {
    if (this.lost) throw this.#lost.signal.reason;
    const rid = this.#newRid();
    const topic = topicFor(rid);
    const answer = deferred<DpsAnswer>();
    this.#pending.set(rid, answer);
    const timeout = new AbortController();
    const handle = this.#clock.setTimeout(() => {
      timeout.abort(
        new TransientConnectionError(`no answer from DPS within ${options.timeoutMs} ms on ${topic}`),
      );
    }, options.timeoutMs);
    try {
      this.#logger.debug("dps publish", { topic, bytes: Buffer.byteLength(payload) });
      this.#client.publish(topic, payload, { qos: 1 }, (error) => {
        if (error) {
          answer.reject(
            new TransientConnectionError(`publishing failed: ${error.message}`, { cause: error }),
          );
        }
      });
      return await abortable(answer.promise, [options.signal, this.#lost.signal, timeout.signal]);
    } finally {
      this.#clock.clearTimeout(handle);
      this.#pending.delete(rid);
      answer.promise.catch(() => {});
    }
  }

  /** Ends the connection and detaches every listener. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    const wasLost = this.lost;
    this.#markLost(new TransientConnectionError("the session was closed"));
    const client = this.#client;
    await endMqttClient(client, { force: wasLost });
    client.removeListener("message", this.#onMessage);
    client.removeListener("close", this.#onClose);
    client.removeListener("error", this.#onError);
  }

  #markLost(reason: Error): void {
    if (!this.#lost.signal.aborted) this.#lost.abort(reason);
  }

  readonly #onMessage = (topic: string, payload: Buffer): void => {
    const parsed = parseResponseTopic(topic);
    if (parsed === undefined) {
      this.#logger.debug("dps ignoring message on an unexpected topic", { topic });
      return;
    }
    const waiter = this.#pending.get(parsed.rid);
    if (waiter === undefined) {
      this.#logger.debug("dps ignoring answer for an unknown or stale $rid", { topic });
      return;
    }
    this.#pending.delete(parsed.rid);
    waiter.resolve({ ...parsed, topic, body: decodePayload(payload) });
  };

  readonly #onClose = (): void => {
    if (!this.lost) this.#logger.warn("dps connection lost");
    this.#markLost(new TransientConnectionError("the connection to DPS was lost"));
  };

  readonly #onError = (error: Error): void => {
    this.#logger.debug("dps connection error", { error: error.message });
    this.#markLost(new TransientConnectionError(`connection error: ${error.message}`, { cause: error }));
  };
}

function waitForConnack(client: MqttClient): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      client.removeListener("connect", onConnect);
      client.removeListener("error", onError);
      client.removeListener("close", onClose);
    };
    const onConnect = (): void => {
      cleanup();
      resolve();
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new TransientConnectionError("the connection closed before CONNACK"));
    };
    client.on("connect", onConnect);
    client.on("error", onError);
    client.on("close", onClose);
  });
}

/** Maps a connect failure to a final {@link DpsError} or a {@link TransientConnectionError} worth retrying. */
export function classifyConnectError(
  error: unknown,
  options: IClientOptions,
): DpsError | TransientConnectionError {
  if (error instanceof DpsError || error instanceof TransientConnectionError) return error;
  const where = `${options.protocol ?? "mqtts"}://${options.host ?? "?"}:${options.port ?? "?"}`;
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = messageOf(error);
  if (typeof code === "number") {
    // CONNACK return codes (MQTT 3.1.1) and their MQTT 5 equivalents.
    if (code === 4 || code === 5 || code === 134 || code === 135) {
      return new DpsError(
        "DPS_UNAUTHORIZED",
        `DPS refused the connection to ${where} (${message}). ${UNAUTHORIZED_HINT}`,
        { cause: error },
      );
    }
    if (code === 3 || code === 136 || code === 137) {
      return new TransientConnectionError(`DPS is unavailable (${message})`, { cause: error });
    }
    return new DpsError(
      "DPS_CONNECTION_FAILED",
      `DPS refused the connection to ${where} (${message}). Check the registration id (it is the client id) and the host.`,
      { cause: error },
    );
  }
  if (typeof code === "string") {
    if (UNTRUSTED_CERTIFICATE_CODES.has(code) || message === "TLS not authorized") {
      return new DpsError(
        "DPS_CONNECTION_FAILED",
        `The TLS certificate of ${where} is not trusted (${code}: ${message}). Pass the root CA that signed it as \`ca\` (CLI: --ca FILE) and use a host name the certificate names.`,
        { cause: error },
      );
    }
    if (/^ERR_SSL_(TLSV1|SSLV3|TLSV13)_ALERT/.test(code)) {
      return new DpsError(
        "DPS_CONNECTION_FAILED",
        `The TLS handshake with ${where} failed (${code}). If you attest with X.509, check that the certificate, key and chain belong together and that DPS trusts their CA.`,
        { cause: error },
      );
    }
    if (code === "ENOTFOUND") {
      return new DpsError(
        "DPS_CONNECTION_FAILED",
        `The host ${options.host ?? "?"} cannot be resolved (${message}). Check the host name.`,
        { cause: error },
      );
    }
  }
  if (message === "TLS not authorized") {
    return new DpsError(
      "DPS_CONNECTION_FAILED",
      `The TLS certificate of ${where} is not trusted. Pass the root CA that signed it as \`ca\` (CLI: --ca FILE).`,
      { cause: error },
    );
  }
  return new TransientConnectionError(`connecting to ${where} failed: ${message}`, { cause: error });
}

/**
 * mqtt.js 5 rejects a SUBSCRIBE whose SUBACK refuses a filter with an `ErrorWithSubackPacket` carrying the SUBACK
 * (`packet.granted`; 0x80 = failure in MQTT 3.1.1), instead of resolving with the grants.
 */
function isSubackRefusal(error: unknown): boolean {
  const granted = (error as { packet?: { granted?: unknown } } | undefined)?.packet?.granted;
  return Array.isArray(granted) && granted.some((code) => typeof code === "number" && (code & 0x80) !== 0);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
