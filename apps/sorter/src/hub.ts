import type { Logger, OperationOptions } from "@skittlesorter/core";
import { noopLogger } from "@skittlesorter/core";
import type { DeviceCredentials } from "./credentials.ts";
import { describeError, SorterError } from "./errors.ts";

/** One telemetry message as the hub gets it. */
export interface HubMessage {
  messageId: string;
  body: string;
  contentType: string;
  contentEncoding: string;
  /** Application properties (e.g. `colorAlert`). */
  properties: Record<string, string>;
}

export interface MethodResult {
  status: number;
  payload?: unknown;
}

export type MethodHandler = (payload: unknown) => MethodResult | Promise<MethodResult>;
export type DesiredListener = (patch: Record<string, unknown>) => void;

/** A live connection to the device's IoT Hub. */
export interface HubConnection {
  readonly deviceId: string;
  /** Resolves once the hub acknowledged the message (MQTT PUBACK). */
  send(message: HubMessage, options?: OperationOptions): Promise<void>;
  /** Merges `patch` into the twin's reported properties. */
  reportTwin(patch: Record<string, unknown>, options?: OperationOptions): Promise<void>;
  /** Desired-property changes; the first call after connecting also delivers the current desired properties. */
  onDesired(listener: DesiredListener): () => void;
  /** Answers direct method `name`. */
  onMethod(name: string, handler: MethodHandler): void;
  /** The connection broke (the hub went away, or refused us). */
  onDisconnect(listener: (error: SorterError) => void): () => void;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Opens hub connections with the device's issued certificate. */
export interface HubConnector {
  connect(credentials: DeviceCredentials, options?: OperationOptions): Promise<HubConnection>;
}

// ---------------------------------------------------------------------------------------------------------
// Error classification

const AUTH_TLS_ALERTS =
  /alert (bad certificate|certificate expired|certificate revoked|unknown ca|certificate unknown|access denied|certificate required|unsupported certificate)|ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|ACCESS_DENIED|CERTIFICATE_REQUIRED)/i;
const SERVER_TRUST =
  /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT|ERR_TLS_CERT_ALTNAME_INVALID|CERT_HAS_EXPIRED|self[- ]signed certificate|unable to verify the first certificate/i;

function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth += 1) {
    chain.push(current);
    const next = current as { transportError?: unknown; innerError?: unknown; cause?: unknown };
    current = next.transportError ?? next.innerError ?? next.cause;
  }
  return chain;
}

/** Maps what the Azure IoT device client (or a socket) reports to our codes. */
export function classifyHubError(error: unknown, what: string): SorterError {
  if (error instanceof SorterError) return error;
  const chain = errorChain(error);
  const text = chain
    .map((item) => {
      const e = item as {
        name?: unknown;
        code?: unknown;
        message?: unknown;
        constructor?: { name?: unknown };
      };
      return `${String(e.constructor?.name ?? "")} ${String(e.name ?? "")} ${String(e.code ?? "")} ${String(e.message ?? item)}`;
    })
    .join(" | ");
  const detail = describeError(error);
  // The SDK reports a server certificate it cannot verify as "Not authorized" too: check trust first.
  if (SERVER_TRUST.test(text)) {
    return new SorterError(
      "HUB_TLS_UNTRUSTED",
      `The IoT Hub's TLS certificate is not trusted while ${what} (${detail}). For a local simulator set ` +
        "Certificates.TrustedCaFile to its trustedCaFile; for Azure keep the system roots up to date.",
      { cause: error },
    );
  }
  if (
    /UnauthorizedError|Not authorized|Bad username or password|DeviceNotFound|DeviceDisabled/i.test(text) ||
    AUTH_TLS_ALERTS.test(text)
  ) {
    return new SorterError(
      "HUB_UNAUTHORIZED",
      `The IoT Hub refused the device's certificate while ${what} (${detail}). The device may be disabled, ` +
        "the certificate expired or revoked, or the device moved to another hub; the sorter provisions again.",
      { cause: error },
    );
  }
  if (/TimeoutError|timed out|ETIMEDOUT/i.test(text)) {
    return new SorterError("HUB_TIMEOUT", `The IoT Hub did not answer in time while ${what} (${detail}).`, {
      cause: error,
    });
  }
  return new SorterError(
    "HUB_UNREACHABLE",
    `Cannot reach the IoT Hub while ${what} (${detail}). Telemetry stays in the outbox and is sent when it is back.`,
    { cause: error },
  );
}

// ---------------------------------------------------------------------------------------------------------
// The official Azure IoT device client (azure-iot-device + azure-iot-device-mqtt)

export interface AzureHubConnectorOptions {
  /** PEM root(s) the hub's TLS certificate chains to (a local simulator); default: the system roots. */
  ca?: string | undefined;
  /** Give up opening the connection after this long. Default 30 000. */
  connectTimeoutMs?: number | undefined;
  /** Give up waiting for one message's acknowledgement after this long. Default 30 000. */
  sendTimeoutMs?: number | undefined;
  logger?: Logger | undefined;
}

/** The smallest surface of the official client this module uses (for typing the lazily imported module). */
interface AzureClient {
  setOptions(options: Record<string, unknown>): Promise<unknown>;
  setRetryPolicy(policy: {
    shouldRetry(error: Error): boolean;
    nextRetryTimeout(count: number, throttled: boolean): number;
  }): void;
  open(): Promise<unknown>;
  close(): Promise<unknown>;
  sendEvent(message: unknown): Promise<unknown>;
  getTwin(): Promise<AzureTwin>;
  onDeviceMethod(
    name: string,
    callback: (
      request: { payload: unknown },
      response: { send(status: number, payload: unknown, done: (error?: Error) => void): void },
    ) => void,
  ): void;
  on(event: "disconnect" | "error", listener: (error?: Error) => void): unknown;
  removeAllListeners(): unknown;
}

interface AzureTwin {
  properties: {
    desired: Record<string, unknown>;
    reported: { update(patch: Record<string, unknown>, done: (error?: Error) => void): void };
  };
  on(event: "properties.desired", listener: (delta: Record<string, unknown>) => void): unknown;
}

/** No retries inside the SDK: the app's uplink decides when to reconnect (and whether to provision again). */
const NO_RETRY = { shouldRetry: () => false, nextRetryTimeout: () => -1 };

/**
 * Connects with `HostName={assignedHub};DeviceId={deviceId};x509=true` over MQTT and presents the issued chain
 * (leaf + issuing CA) with its key.
 */
export function azureHubConnector(options: AzureHubConnectorOptions = {}): HubConnector {
  const logger = options.logger ?? noopLogger;
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
  return {
    async connect(credentials, connectOptions = {}) {
      const { signal } = connectOptions;
      signal?.throwIfAborted();
      const [{ default: device }, { default: deviceMqtt }] = await Promise.all([
        import("azure-iot-device"),
        import("azure-iot-device-mqtt"),
      ]);
      const connectionString = `HostName=${credentials.assignedHub};DeviceId=${credentials.deviceId};x509=true`;
      const client = device.Client.fromConnectionString(
        connectionString,
        deviceMqtt.Mqtt,
      ) as unknown as AzureClient;
      client.setRetryPolicy(NO_RETRY);
      await client.setOptions({
        cert: credentials.chainPem,
        key: credentials.privateKeyPem,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      });
      const disconnectListeners = new Set<(error: SorterError) => void>();
      let closed = false;
      let broken = false;
      const breakWith = (error: unknown): void => {
        if (closed || broken) return;
        broken = true;
        const classified = classifyHubError(error ?? new Error("disconnected"), "connected");
        for (const listener of disconnectListeners) listener(classified);
      };
      client.on("disconnect", (error) => breakWith(error));
      client.on("error", (error) => breakWith(error));
      try {
        await withTimeout(client.open(), connectTimeoutMs, signal, "connecting");
      } catch (error) {
        closed = true;
        await client.close().catch(() => undefined);
        client.removeAllListeners();
        throw classifyHubError(error, `connecting to ${credentials.assignedHub}`);
      }
      logger.info("connected to IoT Hub", { hub: credentials.assignedHub, deviceId: credentials.deviceId });

      let twin: Promise<AzureTwin> | undefined;
      const getTwin = (): Promise<AzureTwin> => {
        twin ??= client.getTwin();
        twin.catch(() => {
          twin = undefined;
        });
        return twin;
      };
      const { Message } = device;
      const connection: HubConnection = {
        deviceId: credentials.deviceId,
        async send(message, sendOptions = {}) {
          if (closed) throw new SorterError("HUB_CLOSED", "The hub connection was closed; open a new one.");
          const m = new Message(message.body);
          m.messageId = message.messageId;
          m.contentType = message.contentType as typeof m.contentType;
          m.contentEncoding = message.contentEncoding as typeof m.contentEncoding;
          for (const [key, value] of Object.entries(message.properties)) m.properties.add(key, value);
          try {
            await withTimeout(client.sendEvent(m), sendTimeoutMs, sendOptions.signal, "sending telemetry");
          } catch (error) {
            if (sendOptions.signal?.aborted && error === sendOptions.signal.reason) throw error;
            const classified = classifyHubError(error, "sending telemetry");
            breakWith(classified);
            throw classified;
          }
        },
        async reportTwin(patch, reportOptions = {}) {
          const t = await withTimeout(getTwin(), sendTimeoutMs, reportOptions.signal, "getting the twin");
          await withTimeout(
            new Promise<void>((resolve, reject) => {
              t.properties.reported.update(patch, (error) => (error ? reject(error) : resolve()));
            }),
            sendTimeoutMs,
            reportOptions.signal,
            "reporting twin properties",
          );
        },
        onDesired(listener) {
          let active = true;
          void getTwin()
            .then((t) => {
              t.on("properties.desired", (delta) => {
                if (active) listener(stripTwinMetadata(delta));
              });
            })
            .catch((error: unknown) =>
              logger.warn("cannot subscribe to desired properties", { error: describeError(error) }),
            );
          return () => {
            active = false;
          };
        },
        onMethod(name, handler) {
          client.onDeviceMethod(name, (request, response) => {
            void (async () => {
              let result: MethodResult;
              try {
                result = await handler(request.payload);
              } catch (error) {
                result = { status: 500, payload: { error: describeError(error) } };
              }
              response.send(result.status, result.payload ?? {}, (error) => {
                if (error)
                  logger.warn("cannot answer a direct method", { method: name, error: describeError(error) });
              });
            })();
          });
        },
        onDisconnect(listener) {
          disconnectListeners.add(listener);
          return () => disconnectListeners.delete(listener);
        },
        async close() {
          if (closed) return;
          closed = true;
          disconnectListeners.clear();
          await client.close().catch(() => undefined);
          client.removeAllListeners();
        },
      };
      return connection;
    },
  };
}

function stripTwinMetadata(delta: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(delta)) if (!key.startsWith("$")) out[key] = value;
  return out;
}

async function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  signal?.throwIfAborted();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new SorterError(
                "HUB_TIMEOUT",
                `The IoT Hub did not answer within ${timeoutMs} ms while ${what}.`,
              ),
            ),
          timeoutMs,
        );
        onAbort = () => reject(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
}
