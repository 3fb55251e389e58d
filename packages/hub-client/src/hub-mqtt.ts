import type { Clock, Logger, OperationOptions } from "@skittlesorter/core";
import type { HubClient, HubClientOptions, HubTransport } from "@skittlesorter/hub-mqtt";
import {
  checkCredentials,
  closedError,
  type DesiredListener,
  type HubConnection,
  type HubConnector,
  type HubCredentials,
  type HubMessage,
  hubError,
  type MethodHandler,
  type RenewalCsr,
  type RenewCertificateOptions,
  type RenewedCertificate,
} from "./connection.ts";
import { connectorBasics, describe } from "./connector-basics.ts";
import { HubClientError } from "./errors.ts";
import { classifyHubMqttError } from "./hub-mqtt-errors.ts";

export interface HubMqttConnectorOptions {
  /** PEM root(s) the hub's TLS certificate chains to (a local hub or simulator); default: the system roots. */
  ca?: string | undefined;
  /** `mqtts` (MQTT over TLS, 8883) or `wss` (MQTT over WebSocket, 443). Default `mqtts`. */
  transport?: HubTransport | undefined;
  /** Give up opening a connection (TLS + CONNACK + subscriptions) after this long. Default 30 000. */
  connectTimeoutMs?: number | undefined;
  /** Give up waiting for one answer (a message's PUBACK, a twin answer) after this long. Default 30 000. */
  operationTimeoutMs?: number | undefined;
  /**
   * `false` (default): a lost connection is reported once through `onDisconnect` and stays broken, as the
   * {@link HubConnection} interface says; the caller connects again. `true`: hub-mqtt reconnects by itself (backoff
   * with jitter, never giving up) and operations wait for the next connection; `onDisconnect` reports only a
   * reconnect the hub refuses (`HUB_UNAUTHORIZED`: provision again), after which the connection stays broken.
   */
  reconnect?: boolean | undefined;
  /** With `reconnect`: the first and the largest backoff ceiling. Default 1 000 / 60 000. */
  initialBackoffMs?: number | undefined;
  maxBackoffMs?: number | undefined;
  /** The connection's api-version. Default hub-mqtt's `2025-08-01-preview`, which carries certificate renewal. */
  apiVersion?: string | undefined;
  /** Connects, disconnects and renewals; never keys, tokens or certificates' private keys. */
  logger?: Logger | undefined;
  /** Clock for SAS token expiry and reconnect backoff (a virtual clock in tests). Default the system clock. */
  clock?: Clock | undefined;
}

type HubMqttModule = typeof import("@skittlesorter/hub-mqtt");

/** mqtt.js and hub-mqtt load on the first connect, so apps on the official adapter never load them. */
let hubMqtt: Promise<HubMqttModule> | undefined;
const loadHubMqtt = (): Promise<HubMqttModule> => {
  hubMqtt ??= import("@skittlesorter/hub-mqtt");
  return hubMqtt;
};

/**
 * A {@link HubConnector} over `@skittlesorter/hub-mqtt` (mqtt.js): MQTT 3.1.1 over TLS or WebSocket, X.509 or SAS,
 * QoS 1 telemetry, twin, direct methods, and `renewCertificate` through the hub. By default a broken connection
 * is reported once through `onDisconnect` and stays broken (see `reconnect`).
 */
export function hubMqttConnector(options: HubMqttConnectorOptions = {}): HubConnector {
  const { logger, connectTimeoutMs, operationTimeoutMs } = connectorBasics(options);
  if (options.transport !== undefined && options.transport !== "mqtts" && options.transport !== "wss") {
    throw new HubClientError(
      "HUB_INVALID_OPTION",
      `transport must be "mqtts" or "wss", got ${JSON.stringify(options.transport)}`,
    );
  }
  return {
    async connect(credentials, connectOptions = {}) {
      checkCredentials(credentials);
      const { signal } = connectOptions;
      signal?.throwIfAborted();
      const { HubClient } = await loadHubMqtt();
      signal?.throwIfAborted();
      const { host, port } = splitHostName(credentials.hostName);
      const clientOptions: HubClientOptions = {
        hostName: credentials.hostName,
        connectHost: host,
        port,
        deviceId: credentials.deviceId,
        credentials:
          credentials.type === "x509"
            ? {
                kind: "x509",
                certificatePem: credentials.certificatePem,
                privateKeyPem: credentials.privateKeyPem,
              }
            : { kind: "sas", deviceKey: credentials.sharedAccessKey },
        transport: options.transport,
        ca: options.ca,
        apiVersion: options.apiVersion,
        connectTimeoutMs,
        requestTimeoutMs: operationTimeoutMs,
        initialBackoffMs: options.initialBackoffMs,
        maxBackoffMs: options.maxBackoffMs,
        logger,
        clock: options.clock,
      };
      // Armed before the client starts its own attempt bound of the same length, so it fires first: a hub that
      // never answers is HUB_TIMEOUT here, not the client's "no connection within …" retry.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              hubError(
                "HUB_TIMEOUT",
                `${credentials.hostName} did not accept the connection of "${credentials.deviceId}" within ${connectTimeoutMs} ms.`,
                credentials,
              ),
            ),
          connectTimeoutMs,
        );
      });
      let client: HubClient;
      try {
        client = new HubClient(clientOptions);
      } catch (error) {
        clearTimeout(timer);
        throw classifyHubMqttError(error, credentials, "connecting", "HUB_INVALID_OPTION");
      }
      // hub-mqtt retries a failed connect for ever; the interface reports the first failure.
      let stopWatching: (() => void) | undefined;
      const firstFailure = new Promise<never>((_, reject) => {
        stopWatching = client.on("connectFailed", ({ error }) =>
          reject(classifyHubMqttError(error, credentials, "connecting", "HUB_UNREACHABLE")),
        );
      });
      try {
        await Promise.race([client.waitUntilConnected({ signal }), firstFailure, deadline]);
      } catch (error) {
        await client.close();
        if (signal?.aborted && error === signal.reason) throw error;
        throw classifyHubMqttError(error, credentials, "connecting", "HUB_UNREACHABLE");
      } finally {
        clearTimeout(timer);
        stopWatching?.();
        firstFailure.catch(() => undefined);
        deadline.catch(() => undefined);
      }
      logger.info("connected to IoT Hub", { hub: credentials.hostName, deviceId: credentials.deviceId });
      return new HubMqttConnection(client, credentials, {
        operationTimeoutMs,
        reconnect: options.reconnect ?? false,
        logger,
      });
    },
  };
}

/** `host:port` (a local hub, as DPS answers it from the simulator) or a bare host name (port from the transport). */
function splitHostName(hostName: string): { host: string; port: number | undefined } {
  const match = /^(.+):(\d{1,5})$/.exec(hostName.trim());
  return match === null
    ? { host: hostName.trim(), port: undefined }
    : { host: match[1] as string, port: Number(match[2]) };
}

class HubMqttConnection implements HubConnection {
  readonly deviceId: string;
  readonly #client: HubClient;
  readonly #credentials: HubCredentials;
  readonly #operationTimeoutMs: number;
  readonly #logger: Logger;
  readonly #disconnectListeners = new Set<(error: HubClientError) => void>();
  readonly #stopWatching: (() => void)[] = [];
  #closing: Promise<void> | undefined;
  /** Why the connection broke; operations fail with it from then on. */
  #broken: HubClientError | undefined;

  constructor(
    client: HubClient,
    credentials: HubCredentials,
    settings: { operationTimeoutMs: number; reconnect: boolean; logger: Logger },
  ) {
    this.deviceId = credentials.deviceId;
    this.#client = client;
    this.#credentials = credentials;
    this.#operationTimeoutMs = settings.operationTimeoutMs;
    this.#logger = settings.logger;
    if (settings.reconnect) {
      this.#stopWatching.push(
        client.on("disconnected", ({ error }) =>
          this.#logger.warn("IoT Hub connection lost; reconnecting", {
            deviceId: this.deviceId,
            error: error === undefined ? undefined : describe(error),
          }),
        ),
        client.on("connectFailed", ({ error }) => {
          const classified = classifyHubMqttError(error, credentials, "reconnecting", "HUB_UNREACHABLE");
          if (classified.code === "HUB_UNAUTHORIZED") this.#break(classified);
        }),
      );
    } else {
      this.#stopWatching.push(
        client.on("disconnected", ({ error }) =>
          this.#break(
            classifyHubMqttError(
              error ?? new Error("the connection to IoT Hub was lost"),
              credentials,
              "connected",
              "HUB_UNREACHABLE",
            ),
          ),
        ),
      );
    }
  }

  async send(message: HubMessage, options: OperationOptions = {}): Promise<void> {
    const { signal } = options;
    this.#ensureOpen(signal);
    await this.#operation(
      (bound) =>
        this.#client.sendTelemetry(message.body, {
          messageId: message.messageId,
          correlationId: message.correlationId,
          contentType: message.contentType,
          contentEncoding: message.contentEncoding,
          properties: message.properties,
          signal: bound,
        }),
      "sending telemetry",
      signal,
    );
  }

  async reportTwin(patch: Record<string, unknown>, options: OperationOptions = {}): Promise<void> {
    const { signal } = options;
    this.#ensureOpen(signal);
    await this.#operation(
      (bound) => this.#client.updateReportedProperties(patch, { signal: bound }),
      "reporting twin properties",
      signal,
    );
  }

  onDesired(listener: DesiredListener): () => void {
    if (this.#closing !== undefined || this.#broken !== undefined) return () => undefined;
    let active = true;
    // Patches that arrive before the current desired properties are held back, then delivered only when newer
    // than them, so an older full document never overwrites a newer patch.
    let held: { patch: Record<string, unknown>; version: number | undefined }[] | undefined = [];
    let currentVersion: number | undefined;
    const deliver = (patch: Record<string, unknown>): void => {
      if (active && this.#closing === undefined) listener(withoutTwinMetadata(patch));
    };
    const stop = this.#client.on("desiredProperties", (event) => {
      if (held === undefined) deliver(event.patch);
      else held.push(event);
    });
    // Bounded by the client's requestTimeoutMs (= operationTimeoutMs); rejects with HUB_CLOSED on close.
    this.#client.getTwin().then(
      (twin) => {
        currentVersion = typeof twin.desired.$version === "number" ? twin.desired.$version : undefined;
        deliver(twin.desired);
        const pending = held ?? [];
        held = undefined;
        for (const event of pending) {
          if (currentVersion === undefined || event.version === undefined || event.version > currentVersion)
            deliver(event.patch);
        }
      },
      (error: unknown) => {
        held = undefined;
        if (this.#closing === undefined)
          this.#logger.warn("cannot read the desired properties", { error: describe(error) });
      },
    );
    return () => {
      active = false;
      stop();
    };
  }

  onMethod(name: string, handler: MethodHandler): void {
    this.#client.onMethod(name, async ({ payload }) => {
      try {
        const result = await handler(payload);
        return { status: result.status, payload: result.payload ?? {} };
      } catch (error) {
        return { status: 500, payload: { error: describe(error) } };
      }
    });
  }

  onDisconnect(listener: (error: HubClientError) => void): () => void {
    this.#disconnectListeners.add(listener);
    return () => this.#disconnectListeners.delete(listener);
  }

  readonly renewCertificate = async (
    csr: RenewalCsr,
    options: RenewCertificateOptions = {},
  ): Promise<RenewedCertificate> => {
    const { signal } = options;
    this.#ensureOpen(signal);
    try {
      const result = await this.#client.renewCertificate({ csr, replace: options.replace, signal });
      const notAfter = result.chain.certificates[0]?.notAfter;
      if (notAfter === undefined) throw new TypeError("the issued chain has no leaf certificate");
      return {
        certificatePem: result.chain.bundle,
        notAfter,
        requestId: result.requestId,
        correlationId: result.correlationId,
      };
    } catch (error) {
      throw this.#failure(error, "renewing the certificate", signal);
    }
  };

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#disconnectListeners.clear();
      for (const stop of this.#stopWatching) stop();
      await this.#client.close();
    })();
    return this.#closing;
  }

  #ensureOpen(signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    if (this.#closing !== undefined) throw closedError(this.deviceId);
    if (this.#broken !== undefined) throw this.#lostError();
  }

  #lostError(): HubClientError {
    const broken = this.#broken as HubClientError;
    return hubError(
      broken.code === "HUB_UNAUTHORIZED" ? "HUB_UNAUTHORIZED" : "HUB_UNREACHABLE",
      `The connection of "${this.deviceId}" to ${this.#credentials.hostName} was lost (${broken.code}); open a new one.`,
      this.#credentials,
      { cause: broken, reason: broken.reason },
    );
  }

  /**
   * Runs `start` bounded by `operationTimeoutMs`. The timeout aborts the client's operation too: in reconnect mode
   * a message that timed out waiting for the next connection must not be sent behind the caller's back.
   */
  async #operation<T>(
    start: (signal: AbortSignal) => Promise<T>,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const timeout = new AbortController();
    const timer = setTimeout(
      () =>
        timeout.abort(
          hubError(
            "HUB_TIMEOUT",
            `${this.#credentials.hostName} did not answer within ${this.#operationTimeoutMs} ms while ${what}.`,
            this.#credentials,
          ),
        ),
      this.#operationTimeoutMs,
    );
    const timedOut = new Promise<never>((_, reject) =>
      timeout.signal.addEventListener("abort", () => reject(timeout.signal.reason), { once: true }),
    );
    timedOut.catch(() => undefined);
    try {
      const bound = signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal]);
      return await Promise.race([start(bound), timedOut]);
    } catch (error) {
      if (timeout.signal.aborted && error === timeout.signal.reason && !signal?.aborted) throw error;
      throw this.#failure(error, what, signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /** An abort's reason as it is; after `close()` HUB_CLOSED; after a break the break; else the classified error. */
  #failure(error: unknown, what: string, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted && error === signal.reason) return error;
    if (this.#closing !== undefined) return closedError(this.deviceId);
    if (this.#broken !== undefined) return this.#lostError();
    return classifyHubMqttError(error, this.#credentials, what);
  }

  /** Reports `error` once, then stops the client: a broken connection stays broken. */
  #break(error: HubClientError): void {
    if (this.#closing !== undefined || this.#broken !== undefined) return;
    this.#broken = error;
    this.#logger.warn("IoT Hub connection lost", { deviceId: this.deviceId, code: error.code });
    for (const stop of this.#stopWatching) stop();
    // Waiting operations reject (hub-mqtt's HUB_CLOSED, reported as this break) and no reconnect follows.
    void this.#client.close();
    for (const listener of [...this.#disconnectListeners]) listener(error);
  }
}

function withoutTwinMetadata(properties: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(properties).filter(([key]) => !key.startsWith("$")));
}
