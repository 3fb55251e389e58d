import { UNTRUSTED_CERTIFICATE_CODES } from "@skittlesorter/core";
import type { IClientOptions, MqttClient } from "mqtt";
import { HubError, UNAUTHORIZED_HINT } from "./errors.ts";

/**
 * Opens an MQTT connection; `mqtt.connect` by default. The options always carry `reconnectPeriod: 0`: this
 * client reconnects itself (with backoff, fresh credentials and a bounded attempt).
 */
export type MqttConnect = (options: IClientOptions) => MqttClient;

/**
 * Resolves on CONNACK; rejects on the first error or close, or with the reason of the first of `signals` to
 * abort. Leaves no listener behind in every case.
 */
export function waitForConnack(client: MqttClient, signals: readonly AbortSignal[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const aborted = signals.find((signal) => signal.aborted);
    if (aborted !== undefined) {
      reject(aborted.reason);
      return;
    }
    const cleanup = (): void => {
      client.removeListener("connect", onConnect);
      client.removeListener("error", onError);
      client.removeListener("close", onClose);
      for (const signal of signals) signal.removeEventListener("abort", onAbort);
    };
    const settle = (outcome: () => void): void => {
      cleanup();
      outcome();
    };
    const onConnect = (): void => settle(resolve);
    const onError = (error: Error): void => settle(() => reject(error));
    const onClose = (): void => settle(() => reject(new Error("the connection closed before CONNACK")));
    const onAbort = (): void => {
      const reason = signals.find((signal) => signal.aborted)?.reason;
      settle(() => reject(reason));
    };
    client.on("connect", onConnect);
    client.on("error", onError);
    client.on("close", onClose);
    for (const signal of signals) signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Publishes and resolves on PUBACK (QoS 1) or once written (QoS 0). */
export function publishOn(
  client: MqttClient,
  topic: string,
  payload: string | Buffer,
  qos: 0 | 1,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    client.publish(topic, payload, { qos }, (error) => {
      if (error) reject(error);
      else resolve();
    });
  });
}

/** Names a failed connection attempt. Every attempt is retried anyway; the code says whether a fix is needed. */
export function classifyConnectError(error: unknown, where: string, deviceId: string): HubError {
  if (error instanceof HubError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === "number") {
    // CONNACK return codes (MQTT 3.1.1): 2 identifier rejected, 4 bad user name or password, 5 not authorized.
    if (code === 2 || code === 4 || code === 5) {
      return new HubError(
        "HUB_UNAUTHORIZED",
        `IoT Hub refused device "${deviceId}" at ${where} (${message}). ${UNAUTHORIZED_HINT}`,
        { cause: error },
      );
    }
    return new HubError("HUB_CONNECTION_FAILED", `IoT Hub at ${where} refused the connection (${message}).`, {
      cause: error,
    });
  }
  if (
    typeof code === "string" &&
    (UNTRUSTED_CERTIFICATE_CODES.has(code) || message === "TLS not authorized")
  ) {
    return new HubError(
      "HUB_CONNECTION_FAILED",
      `The TLS certificate of ${where} is not trusted (${code}: ${message}). Pass the root CA that signed it as \`ca\` and connect to a host name the certificate names.`,
      { cause: error },
    );
  }
  if (typeof code === "string" && /^ERR_SSL_(TLSV1|SSLV3|TLSV13)_ALERT/.test(code)) {
    return new HubError(
      "HUB_CONNECTION_FAILED",
      `The TLS handshake with ${where} failed (${code}). With X.509, check that the certificate, key and chain belong together and that the hub trusts their CA.`,
      { cause: error },
    );
  }
  if (code === "ENOTFOUND") {
    return new HubError("HUB_CONNECTION_FAILED", `The host of ${where} cannot be resolved (${message}).`, {
      cause: error,
    });
  }
  return new HubError("HUB_CONNECTION_FAILED", `Connecting to ${where} failed: ${message}`, { cause: error });
}
