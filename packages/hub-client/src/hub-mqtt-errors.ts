import type { HubErrorCode } from "@skittlesorter/hub-mqtt";
import { classifyAzureIotError } from "./azure-iot-errors.ts";
import type { HubCredentials } from "./connection.ts";
import { HubClientError, type HubClientErrorCode, isHubClientError } from "./errors.ts";

/** The fields of `@skittlesorter/hub-mqtt`'s `HubError` this mapping reads (duck-typed: that package loads lazily). */
interface HubMqttError extends Error {
  code: HubErrorCode;
  statusCode?: number | undefined;
  errorCode?: number | undefined;
  trackingId?: string | undefined;
}

function asHubMqttError(error: unknown): HubMqttError | undefined {
  return error instanceof Error &&
    error.name === "HubError" &&
    typeof (error as { code?: unknown }).code === "string"
    ? (error as HubMqttError)
    : undefined;
}

/** hub-mqtt's codes that map one to one (the rest depend on the transport error or the answer's status). */
const DIRECT: Partial<Record<HubErrorCode, HubClientErrorCode>> = {
  HUB_INVALID_OPTIONS: "HUB_INVALID_OPTION",
  HUB_CLOSED: "HUB_CLOSED",
  HUB_TIMEOUT: "HUB_TIMEOUT",
  HUB_PROTOCOL_ERROR: "HUB_FAILED",
  // The client refuses a second renewal itself, as the hub would with 409.
  HUB_RENEWAL_IN_PROGRESS: "HUB_REJECTED",
  // No `$iothub/credentials` on this hub (or api-version): the caller renews through DPS instead.
  HUB_RENEWAL_UNSUPPORTED: "HUB_REJECTED",
  HUB_ISSUED_CHAIN_INVALID: "HUB_FAILED",
};

/**
 * Maps what `@skittlesorter/hub-mqtt` rejected with (or reported through `connectFailed`/`disconnected`) to a
 * {@link HubClientError}. Its code goes to `reason`, the hub's `statusCode`/`errorCode`/`trackingId` are kept.
 * A failed or lost connection is classified by the transport error underneath (Node's codes, CONNACK return
 * codes), like the official adapter's; `fallback` is for an error that says nothing more.
 */
export function classifyHubMqttError(
  error: unknown,
  credentials: Pick<HubCredentials, "hostName" | "deviceId">,
  what: string,
  fallback: HubClientErrorCode = "HUB_FAILED",
): HubClientError {
  if (isHubClientError(error)) return error;
  const hubError = asHubMqttError(error);
  if (hubError === undefined) return classifyAzureIotError(error, credentials, what, fallback);
  const details = {
    cause: error,
    hostName: credentials.hostName,
    deviceId: credentials.deviceId,
    statusCode: hubError.statusCode,
    errorCode: hubError.errorCode,
    trackingId: hubError.trackingId,
  };
  if (hubError.code === "HUB_CONNECTION_FAILED" || hubError.code === "HUB_UNAUTHORIZED") {
    const transport = classifyAzureIotError(
      hubError,
      credentials,
      what,
      hubError.code === "HUB_UNAUTHORIZED" ? "HUB_UNAUTHORIZED" : fallback,
    );
    return new HubClientError(transport.code, transport.message, {
      ...details,
      reason: transport.reason ?? hubError.code,
    });
  }
  const code =
    hubError.code === "HUB_REQUEST_REJECTED"
      ? hubError.statusCode === 429
        ? "HUB_THROTTLED"
        : "HUB_REJECTED"
      : (DIRECT[hubError.code] ?? fallback);
  return new HubClientError(
    code,
    `${hubError.message} (device "${credentials.deviceId}", hub ${credentials.hostName}, while ${what})`,
    { ...details, reason: hubError.code },
  );
}
