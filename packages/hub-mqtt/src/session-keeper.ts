import { createSasToken } from "@skittlesorter/attestation";
import { abortable, type Deferred, deferred, delay, endMqttClient, linkSignals } from "@skittlesorter/core";
import type { IClientOptions, MqttClient } from "mqtt";
import { classifyConnectError, publishOn, waitForConnack } from "./connection.ts";
import type { HubCredentials } from "./credentials.ts";
import { HubError, messageOf } from "./errors.ts";
import type { HubEvents } from "./events.ts";
import {
  backoffDelayMs,
  CREDENTIALS_RESPONSE_FILTER,
  c2dFilter,
  deviceResourceUri,
  HUB_RENEWAL_API_VERSION,
  HUB_WEBSOCKET_PATH,
  hubUsername,
  METHODS_FILTER,
  TWIN_DESIRED_FILTER,
  TWIN_RESPONSE_FILTER,
} from "./protocol.ts";
import type { Settings } from "./settings.ts";

/** One MQTT connection to the hub, subscribed. */
export interface Session {
  client: MqttClient;
  /** Aborted when the connection drops or is closed. */
  lost: AbortController;
  /** Removes the listeners this client added to `client`. */
  detach(): void;
}

/** What the keeper hands back to the client: each inbound message, and the connection events. */
export interface SessionKeeperHooks {
  onMessage(session: Session, topic: string, payload: Buffer): void;
  emit<K extends keyof HubEvents>(event: K, payload: HubEvents[K]): void;
}

/**
 * Keeps one connection to IoT Hub up until stopped: connects, subscribes, and reconnects with backoff and
 * jitter, never giving up. Publishes wait for a connection and survive a reconnect.
 */
export class SessionKeeper {
  readonly deviceId: string;
  readonly #settings: Settings;
  readonly #hooks: SessionKeeperHooks;
  #credentials: HubCredentials;
  readonly #closing = new AbortController();
  readonly #connectedWaiters = new Set<Deferred<Session>>();
  #session: Session | undefined;
  #reconnectNow = false;
  #credentialsRefused = false;
  readonly #loop: Promise<void>;

  /** Starts connecting at once. */
  constructor(settings: Settings, credentials: HubCredentials, hooks: SessionKeeperHooks) {
    this.#settings = settings;
    this.deviceId = settings.deviceId;
    this.#credentials = credentials;
    this.#hooks = hooks;
    this.#loop = this.#run();
  }

  get settings(): Settings {
    return this.#settings;
  }

  /** The live connection; `undefined` while disconnected. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** Aborted (with a `HUB_CLOSED` reason) once the client is closed. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  /** True when the last connection's hub refused the `$iothub/credentials` subscription. */
  get credentialsRefused(): boolean {
    return this.#credentialsRefused;
  }

  /** Used from the next connect. */
  replaceCredentials(credentials: HubCredentials): void {
    this.#credentials = credentials;
  }

  /** Drops the current connection and connects again at once (with the current credentials). */
  reconnect(): void {
    if (this.#session === undefined) return;
    this.#reconnectNow = true;
    this.#session.lost.abort(new Error("reconnect requested"));
  }

  /** Disconnects and stops reconnecting; pending operations reject with `reason`. */
  async stop(reason: HubError): Promise<void> {
    this.#closing.abort(reason);
    await this.#loop;
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
        this.#hooks.emit("connectFailed", { error: problem, attempt, delayMs });
        try {
          await delay(delayMs, { signal: this.#closing.signal, clock });
        } catch {
          break;
        }
        continue;
      }
      logger.info("hub connected", { deviceId: this.deviceId, attempt });
      this.#session = session;
      this.#hooks.emit("connected", { attempt });
      for (const waiter of this.#connectedWaiters) waiter.resolve(session);
      attempt = 0;

      await untilAborted([session.lost.signal, this.#closing.signal]);
      this.#session = undefined;
      await this.#endSession(session);
      if (this.#closing.signal.aborted) break;
      const reason = session.lost.signal.reason as Error | undefined;
      logger.warn("hub connection lost; reconnecting", { problem: reason?.message });
      this.#hooks.emit("disconnected", { error: reason });
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
    const onMessage = (topic: string, payload: Buffer): void =>
      this.#hooks.onMessage(session, topic, payload);
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

  /** Resolves with the live connection, waiting for the next one while disconnected. */
  async whenConnected(signal: AbortSignal | undefined): Promise<Session> {
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
  // Publishing

  /** Waits `ms` on the clock; rejects with the reason of `signal` or of `close()`. */
  async sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const linked = linkSignals([signal, this.#closing.signal]);
    try {
      await delay(ms, { signal: linked.signal, clock: this.#settings.clock });
    } finally {
      linked.dispose();
    }
  }

  /** Publishes, waiting for a connection first; when the connection drops before the PUBACK, sends again. */
  async publishReliably(
    topic: string,
    payload: string | Buffer,
    signal: AbortSignal | undefined,
  ): Promise<Session> {
    for (;;) {
      const session = await this.whenConnected(signal);
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
