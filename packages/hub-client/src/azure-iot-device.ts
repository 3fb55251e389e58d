import { createRequire } from "node:module";
import type { Logger, OperationOptions } from "@skittlesorter/core";
import type { Client, Twin } from "azure-iot-device";
import { classifyAzureIotError } from "./azure-iot-errors.ts";
import {
  bounded,
  checkCredentials,
  closedError,
  type HubConnection,
  type HubConnector,
  type HubCredentials,
  hubError,
  type MethodResult,
} from "./connection.ts";
import { connectorBasics, describe } from "./connector-basics.ts";
import { type HubClientError, isHubClientError } from "./errors.ts";

export interface AzureIotDeviceConnectorOptions {
  /** PEM root(s) the hub's TLS certificate chains to (a local hub or simulator); default: the system roots. */
  ca?: string | undefined;
  /** Give up opening a connection (TLS + CONNACK + subscriptions) after this long. Default 30 000. */
  connectTimeoutMs?: number | undefined;
  /** Give up waiting for one answer (a message's PUBACK, a twin update) after this long. Default 30 000. */
  operationTimeoutMs?: number | undefined;
  /** Connects, disconnects and unanswerable methods; never credentials. */
  logger?: Logger | undefined;
}

type DeviceSdk = typeof import("azure-iot-device");
type MqttSdk = typeof import("azure-iot-device-mqtt");
type MqttBaseSdk = typeof import("azure-iot-mqtt-base");

/** The SDKs are CommonJS and large: load them on the first connect, not at import time. */
let sdk: Promise<[DeviceSdk, MqttSdk, MqttBaseSdk]> | undefined;
const loadSdk = (): Promise<[DeviceSdk, MqttSdk, MqttBaseSdk]> => {
  sdk ??= Promise.all([
    import("azure-iot-device").then((module) => module.default),
    import("azure-iot-device-mqtt").then((module) => module.default),
    import("azure-iot-mqtt-base").then((module) => module.default),
  ]).then((loaded) => {
    skipPacketNumberCache();
    return loaded;
  });
  return sdk;
};

/**
 * The SDK's MQTT.js 4 has no `writeCache` option: on its first packet its mqtt-packet fills a cache of 65,536
 * two-byte Buffers (about 6 MiB of heap, kept for the process's life) to save one allocation per packet id.
 * mqtt-packet's documented `writeToStream.cacheNumbers = false` turns that off (numbers are then written as
 * sent); the bytes on the wire are the same. Best effort: with another layout of node_modules nothing changes.
 */
export function skipPacketNumberCache(): boolean {
  try {
    const fromSdk = createRequire(createRequire(import.meta.url).resolve("azure-iot-mqtt-base"));
    const fromMqtt = createRequire(fromSdk.resolve("mqtt"));
    const packets = fromMqtt("mqtt-packet") as { writeToStream?: { cacheNumbers?: boolean } };
    if (packets.writeToStream === undefined) return false;
    packets.writeToStream.cacheNumbers = false;
    return true;
  } catch {
    return false;
  }
}

/** No retries inside the SDK: the caller decides when to reconnect (and whether to provision again). */
const NO_RETRY = { shouldRetry: () => false, nextRetryTimeout: () => -1 };

/**
 * A {@link HubConnector} over the official Azure IoT device SDK (`azure-iot-device` + `azure-iot-device-mqtt`):
 * MQTT 3.1.1 over TLS on port 8883 (or the `host:port` of `hostName`), X.509 or SAS, QoS 1 telemetry, twin and
 * direct methods. The SDK's own retries are off: a broken connection is reported once through `onDisconnect`.
 */
export function azureIotDeviceConnector(options: AzureIotDeviceConnectorOptions = {}): HubConnector {
  const { logger, connectTimeoutMs, operationTimeoutMs } = connectorBasics(options);
  return {
    async connect(credentials, connectOptions = {}) {
      checkCredentials(credentials);
      connectOptions.signal?.throwIfAborted();
      const [device, deviceMqtt, mqttBase] = await loadSdk();
      // The SDK replaces the error of a failed first connect by a plain Error that keeps only the message. The
      // MQTT layer underneath still has the original (Node's `code`, the CONNACK return code): keep it.
      let connectError: unknown;
      const base = new mqttBase.MqttBase();
      const connectBase = base.connect.bind(base);
      base.connect = (config, done) =>
        connectBase(config, (error, result) => {
          if (error) connectError = error;
          done(error, result);
        });
      class Transport extends deviceMqtt.Mqtt {
        constructor(authenticationProvider: ConstructorParameters<MqttSdk["Mqtt"]>[0]) {
          super(authenticationProvider, base);
        }
      }
      const client = device.Client.fromConnectionString(connectionString(credentials), Transport);
      client.setRetryPolicy(NO_RETRY as unknown as Parameters<Client["setRetryPolicy"]>[0]);
      const connection = new AzureConnection(client, credentials, {
        operationTimeoutMs,
        logger,
        Message: device.Message,
      });
      try {
        await client.setOptions({
          ...(credentials.type === "x509"
            ? { cert: credentials.certificatePem, key: credentials.privateKeyPem }
            : {}),
          ...(options.ca === undefined ? {} : { ca: options.ca }),
        });
        await bounded(client.open(), {
          timeoutMs: connectTimeoutMs,
          signal: connectOptions.signal,
          timeoutError: () =>
            hubError(
              "HUB_TIMEOUT",
              `${credentials.hostName} did not accept the connection of "${credentials.deviceId}" within ${connectTimeoutMs} ms.`,
              credentials,
            ),
        });
      } catch (error) {
        await connection.close();
        if (connectOptions.signal?.aborted && error === connectOptions.signal.reason) throw error;
        throw isHubClientError(error)
          ? error
          : classifyAzureIotError(connectError ?? error, credentials, "connecting");
      }
      logger.info("connected to IoT Hub", { hub: credentials.hostName, deviceId: credentials.deviceId });
      return connection;
    },
  };
}

function connectionString(credentials: HubCredentials): string {
  const authentication =
    credentials.type === "x509" ? "x509=true" : `SharedAccessKey=${credentials.sharedAccessKey}`;
  return `HostName=${credentials.hostName};DeviceId=${credentials.deviceId};${authentication}`;
}

class AzureConnection implements HubConnection {
  readonly deviceId: string;
  readonly #client: Client;
  readonly #credentials: HubCredentials;
  readonly #operationTimeoutMs: number;
  readonly #logger: Logger;
  readonly #Message: DeviceSdk["Message"];
  readonly #disconnectListeners = new Set<(error: HubClientError) => void>();
  #twin: Promise<Twin> | undefined;
  #desired: Promise<Twin> | undefined;
  #closed = false;
  /** Why the connection broke. The SDK would silently reconnect on the next send: a broken connection stays broken. */
  #broken: HubClientError | undefined;
  /**
   * Aborted when the connection breaks or is closed. The SDK never settles a twin request whose answer was lost with
   * the connection (it forgets nothing, and fails nothing, on a disconnect): waiting operations reject at once.
   */
  readonly #ended = new AbortController();

  constructor(
    client: Client,
    credentials: HubCredentials,
    settings: { operationTimeoutMs: number; logger: Logger; Message: DeviceSdk["Message"] },
  ) {
    this.deviceId = credentials.deviceId;
    this.#client = client;
    this.#credentials = credentials;
    this.#operationTimeoutMs = settings.operationTimeoutMs;
    this.#logger = settings.logger;
    this.#Message = settings.Message;
    client.on("disconnect", (result?: { transportObj?: unknown }) =>
      this.#break(result?.transportObj, "the connection was lost"),
    );
    client.on("error", (error: Error) => this.#break(error, "the connection failed"));
  }

  async send(message: Parameters<HubConnection["send"]>[0], options: OperationOptions = {}): Promise<void> {
    this.#ensureOpen(options.signal);
    const m = new this.#Message(typeof message.body === "string" ? message.body : Buffer.from(message.body));
    if (message.messageId !== undefined) m.messageId = message.messageId;
    if (message.correlationId !== undefined) m.correlationId = message.correlationId;
    if (message.contentType !== undefined) m.contentType = message.contentType as typeof m.contentType;
    if (message.contentEncoding !== undefined)
      m.contentEncoding = message.contentEncoding as typeof m.contentEncoding;
    for (const [key, value] of Object.entries(message.properties ?? {})) m.properties.add(key, value);
    await this.#operation(this.#client.sendEvent(m), "sending telemetry", options.signal);
  }

  async reportTwin(patch: Record<string, unknown>, options: OperationOptions = {}): Promise<void> {
    this.#ensureOpen(options.signal);
    const twin = await this.#operation(this.#getTwin(), "getting the twin", options.signal);
    await this.#operation(
      new Promise<void>((resolve, reject) => {
        twin.properties.reported.update(patch, (error?: Error) => (error ? reject(error) : resolve()));
      }),
      "reporting twin properties",
      options.signal,
    );
  }

  onDesired(listener: (patch: Record<string, unknown>) => void): () => void {
    // Asking a broken or closed connection for its twin would make the SDK connect again behind our back.
    if (this.#closed || this.#broken !== undefined) return () => undefined;
    let active = true;
    const onChange = (delta: Record<string, unknown>): void => {
      if (active && !this.#closed) listener(withoutTwinMetadata(delta));
    };
    this.#desiredFeed().then(
      (twin) => {
        if (active && !this.#closed) twin.on("properties.desired", onChange);
      },
      (error: unknown) => {
        if (!this.#closed)
          this.#logger.warn("cannot subscribe to desired properties", { error: describe(error) });
      },
    );
    return () => {
      active = false;
      void this.#twin
        ?.then((twin) => twin.removeListener("properties.desired", onChange))
        .catch(() => undefined);
    };
  }

  onMethod(name: string, handler: (payload: unknown) => MethodResult | Promise<MethodResult>): void {
    this.#client.onDeviceMethod(name, (request, response) => {
      void (async () => {
        let result: MethodResult;
        try {
          result = await handler(request.payload);
        } catch (error) {
          result = { status: 500, payload: { error: describe(error) } };
        }
        response.send(result.status, result.payload ?? {}, (error?: Error) => {
          if (error)
            this.#logger.warn("cannot answer a direct method", { method: name, error: describe(error) });
        });
      })();
    });
  }

  onDisconnect(listener: (error: HubClientError) => void): () => void {
    this.#disconnectListeners.add(listener);
    return () => this.#disconnectListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#disconnectListeners.clear();
    this.#ended.abort(closedError(this.deviceId));
    // A twin request still in flight would make the SDK open a new connection after ours is closed, and keep the
    // process alive: let it settle first (bounded like any operation).
    const inFlight = [this.#twin, this.#desired].filter((request) => request !== undefined);
    if (inFlight.length > 0)
      await bounded(Promise.allSettled(inFlight), {
        timeoutMs: this.#operationTimeoutMs,
        timeoutError: () => closedError(this.deviceId),
      }).catch(() => undefined);
    await this.#client.close().catch(() => undefined);
    this.#client.removeAllListeners();
  }

  #ensureOpen(signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    if (this.#closed) throw closedError(this.deviceId);
    if (this.#broken !== undefined) throw this.#lostError(this.#broken);
  }

  #lostError(broken: HubClientError): HubClientError {
    return hubError(
      "HUB_UNREACHABLE",
      `The connection of "${this.deviceId}" to ${this.#credentials.hostName} was lost (${broken.code}); open a new one.`,
      this.#credentials,
      { cause: broken, reason: broken.reason },
    );
  }

  /**
   * The twin, once desired-property patches flow: the SDK subscribes only when a listener is added and does not say
   * when that is done, so a patch made meanwhile would be lost. Subscribe first, then read the twin again.
   */
  #desiredFeed(): Promise<Twin> {
    if (this.#desired === undefined) {
      const feed = this.#getTwin().then(async (twin) => {
        await new Promise<void>((resolve, reject) =>
          twin.enableTwinDesiredPropertiesUpdates((error?: Error) => (error ? reject(error) : resolve())),
        );
        return twin.get();
      });
      this.#desired = feed;
      feed.catch(() => {
        if (this.#desired === feed) this.#desired = undefined;
      });
    }
    return this.#desired;
  }

  #getTwin(): Promise<Twin> {
    if (this.#twin === undefined) {
      const twin = this.#client.getTwin();
      this.#twin = twin;
      twin.catch(() => {
        if (this.#twin === twin) this.#twin = undefined;
      });
    }
    return this.#twin;
  }

  async #operation<T>(operation: Promise<T>, what: string, signal: AbortSignal | undefined): Promise<T> {
    try {
      return await bounded(this.#untilEnded(operation), {
        timeoutMs: this.#operationTimeoutMs,
        signal,
        timeoutError: () =>
          hubError(
            "HUB_TIMEOUT",
            `${this.#credentials.hostName} did not answer within ${this.#operationTimeoutMs} ms while ${what}.`,
            this.#credentials,
          ),
      });
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      if (this.#closed) throw closedError(this.deviceId);
      const classified = isHubClientError(error)
        ? error
        : classifyAzureIotError(error, this.#credentials, what);
      if (classified.code === "HUB_UNREACHABLE" || classified.code === "HUB_UNAUTHORIZED")
        this.#break(classified, what);
      throw classified;
    }
  }

  /** Settles like `operation`, or rejects with the reason the connection ended first. Leaves no listener behind. */
  async #untilEnded<T>(operation: Promise<T>): Promise<T> {
    const ended = this.#ended.signal;
    let onEnded: (() => void) | undefined;
    try {
      return await Promise.race([
        operation,
        new Promise<never>((_, reject) => {
          onEnded = () => reject(ended.reason);
          if (ended.aborted) onEnded();
          else ended.addEventListener("abort", onEnded, { once: true });
        }),
      ]);
    } finally {
      if (onEnded !== undefined) ended.removeEventListener("abort", onEnded);
    }
  }

  #break(error: unknown, what: string): void {
    if (this.#closed || this.#broken !== undefined) return;
    const classified = isHubClientError(error)
      ? error
      : classifyAzureIotError(error, this.#credentials, what, "HUB_UNREACHABLE");
    this.#broken = classified;
    this.#ended.abort(this.#lostError(classified));
    this.#logger.warn("IoT Hub connection lost", { deviceId: this.deviceId, code: classified.code });
    for (const listener of [...this.#disconnectListeners]) listener(classified);
  }
}

function withoutTwinMetadata(delta: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(delta).filter(([key]) => !key.startsWith("$")));
}
