// IoT Hub's error answers on its service REST API, in the legacy shape the official service SDKs parse.
import { randomBytes } from "node:crypto";
import { azureTimestamp } from "../../azure-time.ts";
import { isSimulatorError, type SimulatorErrorCode } from "../../errors.ts";
import {
  HttpError,
  isHttpError,
  type RouteHandler,
  type RouteRequest,
  type RouteResponse,
} from "../../net/http.ts";

/**
 * An IoT Hub service API refusal: `status` and IoT Hub's `ErrorCode` (`DeviceNotFound`, `PreconditionFailed`, …) as
 * an {@link HttpError}, so a generic error handler still answers the right status.
 */
export function iotHubError(status: number, errorCode: string, message: string): HttpError {
  return new HttpError(status, errorCode, message);
}

/** Which IoT Hub status and ErrorCode answer a domain error of the simulator. */
const IOT_HUB_ERROR_OF: Partial<Record<SimulatorErrorCode, { status: number; errorCode: string }>> = {
  SIM_INVALID_REQUEST: { status: 400, errorCode: "ArgumentInvalid" },
  SIM_NOT_FOUND: { status: 404, errorCode: "DeviceNotFound" },
  SIM_CONFLICT: { status: 409, errorCode: "DeviceAlreadyExists" },
  SIM_PRECONDITION_FAILED: { status: 412, errorCode: "PreconditionFailed" },
};

/** `MM/dd/yyyy HH:mm:ss` in UTC, the time stamp IoT Hub puts in its tracking ids. */
function trackingTime(now: Date): string {
  const two = (value: number): string => String(value).padStart(2, "0");
  return (
    `${two(now.getUTCMonth() + 1)}/${two(now.getUTCDate())}/${now.getUTCFullYear()} ` +
    `${two(now.getUTCHours())}:${two(now.getUTCMinutes())}:${two(now.getUTCSeconds())}`
  );
}

function trackingId(now: Date): string {
  return `${randomBytes(16).toString("hex")}-G:0-TimeStamp:${trackingTime(now)}`;
}

/**
 * The registry and twin error body: `{"Message":"ErrorCode:<Code>;<text>","ExceptionMessage":"Tracking ID:…"}`.
 * The Node SDK reads the code by splitting `Message` on `;` (wire facts §1.6).
 */
export function iotHubErrorAnswer(status: number, errorCode: string, message: string): RouteResponse {
  const now = new Date();
  return {
    status,
    headers: { "iothub-errorcode": errorCode },
    body: {
      Message: `ErrorCode:${errorCode};${message}`,
      ExceptionMessage: `Tracking ID:${trackingId(now)}`,
    },
  };
}

/**
 * The direct-method error body: the inner error JSON stringified into `Message` (wire facts §1.5), with IoT Hub's
 * numeric code (404103 device not online, 504101 device did not answer in time).
 */
export function methodErrorAnswer(
  status: 404 | 504,
  errorCode: 404103 | 504101,
  message: string,
  info: Record<string, unknown>,
): RouteResponse {
  const now = new Date();
  const inner = {
    errorCode,
    trackingId: trackingId(now),
    message,
    info,
    timestampUtc: azureTimestamp(now.getTime()),
  };
  return {
    status,
    headers: { "iothub-errorcode": errorCode === 404103 ? "DeviceNotOnline" : "GatewayTimeout" },
    body: { Message: JSON.stringify(inner), ExceptionMessage: "" },
  };
}

/** The IoT Hub answer for an error a service route threw; undefined for an unexpected one. */
export function iotHubAnswerOf(error: unknown): RouteResponse | undefined {
  if (isHttpError(error)) return iotHubErrorAnswer(error.status, error.code, error.message);
  if (isSimulatorError(error)) {
    const mapped = IOT_HUB_ERROR_OF[error.code];
    // A domain error already named in IoT Hub's style (PascalCase) keeps its name.
    const named = /^[A-Z][A-Za-z]+$/.test(error.errorCode ?? "") ? error.errorCode : undefined;
    if (mapped !== undefined) {
      return iotHubErrorAnswer(mapped.status, named ?? mapped.errorCode, error.message);
    }
  }
  return undefined;
}

/**
 * Wraps a service route: `authorize` runs first, and every refusal (its own, or a domain error) is answered in IoT
 * Hub's error shape instead of the admin API's.
 */
export function iotHubRoute(
  authorize: (request: RouteRequest) => unknown,
  handler: RouteHandler,
): RouteHandler {
  return async (request) => {
    try {
      authorize(request);
      return await handler(request);
    } catch (error) {
      const answer = iotHubAnswerOf(error);
      if (answer === undefined) throw error;
      return answer;
    }
  };
}
