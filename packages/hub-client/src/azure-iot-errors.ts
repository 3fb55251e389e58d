import { UNTRUSTED_CERTIFICATE_CODES } from "@skittlesorter/core";
import type { HubCredentials } from "./connection.ts";
import { HubClientError, type HubClientErrorCode } from "./errors.ts";

/** OpenSSL's codes for a TLS alert in which the server refuses the client certificate (`ERR_SSL_TLSV13_ALERT_…`). */
const REFUSED_CLIENT_CERTIFICATE =
  /^ERR_SSL_\w+_ALERT_(BAD_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|ACCESS_DENIED|CERTIFICATE_REQUIRED|UNSUPPORTED_CERTIFICATE)$/;

const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** MQTT 3.1.1 CONNACK return codes (mqtt.js puts them on `code` as numbers). */
const CONNACK: Record<number, HubClientErrorCode> = {
  1: "HUB_FAILED", // unacceptable protocol version
  2: "HUB_UNAUTHORIZED", // identifier rejected
  3: "HUB_UNREACHABLE", // server unavailable
  4: "HUB_UNAUTHORIZED", // bad user name or password
  5: "HUB_UNAUTHORIZED", // not authorized
};

/** The error classes of azure-iot-common (by `name`, so a second installed copy of the SDK is recognised too). */
const SDK_ERROR_NAMES: Record<string, HubClientErrorCode> = {
  UnauthorizedError: "HUB_UNAUTHORIZED",
  DeviceNotFoundError: "HUB_UNAUTHORIZED",
  NotConnectedError: "HUB_UNREACHABLE",
  ServiceUnavailableError: "HUB_UNREACHABLE",
  InternalServerError: "HUB_UNREACHABLE",
  TimeoutError: "HUB_TIMEOUT",
  ThrottlingError: "HUB_THROTTLED",
  IotHubQuotaExceededError: "HUB_THROTTLED",
  DeviceMaximumQueueDepthExceededError: "HUB_THROTTLED",
  ArgumentError: "HUB_REJECTED",
  ArgumentOutOfRangeError: "HUB_REJECTED",
  FormatError: "HUB_REJECTED",
  InvalidOperationError: "HUB_REJECTED",
  MessageTooLargeError: "HUB_REJECTED",
  NotImplementedError: "HUB_REJECTED",
  PreconditionFailedError: "HUB_REJECTED",
  BadDeviceResponseError: "HUB_REJECTED",
};

/** The error and what it wraps: the SDK's `transportError`/`innerError`, a `Disconnected` result's `transportObj`, `cause`. */
function errorChain(error: unknown): object[] {
  const chain: object[] = [];
  let current: unknown = error;
  while (typeof current === "object" && current !== null && !chain.includes(current) && chain.length < 8) {
    chain.push(current);
    const next = current as {
      transportError?: unknown;
      transportObj?: unknown;
      innerError?: unknown;
      cause?: unknown;
    };
    current = next.transportError ?? next.transportObj ?? next.innerError ?? next.cause;
  }
  return chain;
}

function classifyCode(code: unknown): HubClientErrorCode | undefined {
  if (typeof code === "number") return CONNACK[code];
  if (typeof code !== "string") return undefined;
  if (UNTRUSTED_CERTIFICATE_CODES.has(code)) return "HUB_TLS_UNTRUSTED";
  if (REFUSED_CLIENT_CERTIFICATE.test(code)) return "HUB_UNAUTHORIZED";
  if (UNREACHABLE_CODES.has(code)) return "HUB_UNREACHABLE";
  if (code === "ETIMEDOUT") return "HUB_TIMEOUT";
  return undefined;
}

const FIXES: Record<HubClientErrorCode, (where: string) => string> = {
  HUB_INVALID_OPTION: (where) => `Invalid request ${where}.`,
  HUB_UNAUTHORIZED: (where) =>
    `The IoT Hub refused the device's credentials ${where}: the device may be unknown or disabled, its key or ` +
    "certificate wrong, expired or revoked, or the device moved to another hub (provision it again).",
  HUB_TLS_UNTRUSTED: (where) =>
    `The IoT Hub's TLS certificate is not trusted ${where}: for a local hub or simulator pass its root as \`ca\`; ` +
    "for Azure keep the system's root certificates up to date.",
  HUB_UNREACHABLE: (where) =>
    `Cannot reach the IoT Hub ${where}; check the host name and the network, then connect again.`,
  HUB_TIMEOUT: (where) => `The IoT Hub did not answer in time ${where}.`,
  HUB_THROTTLED: (where) =>
    `The IoT Hub throttled the device ${where}; send less often or raise the hub's tier.`,
  HUB_REJECTED: (where) => `The IoT Hub rejected the request ${where}.`,
  HUB_CLOSED: (where) => `The connection was closed ${where}; open a new one.`,
  HUB_FAILED: (where) => `The IoT Hub connection failed ${where}.`,
};

/**
 * Maps what the official SDK (or the socket under it) reported to a {@link HubClientError}: first by a code
 * anywhere in the chain (Node's error codes, MQTT CONNACK return codes), then by the SDK's error class, else
 * `fallback`. No message text is inspected.
 */
export function classifyAzureIotError(
  error: unknown,
  credentials: Pick<HubCredentials, "hostName" | "deviceId">,
  what: string,
  fallback: HubClientErrorCode = "HUB_FAILED",
): HubClientError {
  const chain = errorChain(error);
  let code: HubClientErrorCode | undefined;
  let reason: string | undefined;
  for (const item of chain) {
    const itemCode = (item as { code?: unknown }).code;
    code = classifyCode(itemCode);
    if (code !== undefined) {
      reason = typeof itemCode === "number" ? `CONNACK ${itemCode}` : String(itemCode);
      break;
    }
  }
  if (code === undefined) {
    for (const item of chain) {
      const name = (item as { name?: unknown }).name;
      if (typeof name === "string" && Object.hasOwn(SDK_ERROR_NAMES, name)) {
        code = SDK_ERROR_NAMES[name];
        reason = name;
        break;
      }
    }
  }
  code ??= fallback;
  const detail = chain.find((item): item is Error => item instanceof Error && item.message !== "")?.message;
  const where = `while ${what} (device "${credentials.deviceId}", hub ${credentials.hostName})`;
  return new HubClientError(
    code,
    `${FIXES[code](where)}${detail === undefined ? "" : ` Reported: ${detail}`}`,
    {
      cause: error,
      hostName: credentials.hostName,
      deviceId: credentials.deviceId,
      reason,
    },
  );
}
