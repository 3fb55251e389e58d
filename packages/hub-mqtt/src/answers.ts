import { HubError, UNAUTHORIZED_HINT } from "./errors.ts";
import type { parseErrorDetails, ResponseTopic } from "./protocol.ts";

/** An answer on `$iothub/twin/res/…` or `$iothub/credentials/res/…`, matched to its request by `$rid`. */
export interface Answer extends ResponseTopic {
  body: unknown;
}

/** The handler of each request still waiting for answers, by `$rid`. */
export type PendingRequests = Map<string, (answer: Answer) => void>;

/** The error for a final error answer: what the hub said, on the error's fields and in its message. */
export function answerError(
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
