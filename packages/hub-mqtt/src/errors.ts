import { errorGuard, ServiceError, type ServiceErrorDetails } from "@skittlesorter/core";

export type HubErrorCode =
  /** The options or arguments are unusable (missing host, CN ≠ device id, key not the certificate's…). */
  | "HUB_INVALID_OPTIONS"
  /** IoT Hub refused the credentials (CONNACK "bad user name or password" / "not authorized", or a 401 answer). */
  | "HUB_UNAUTHORIZED"
  /** A connection attempt failed in a way that needs a fix (untrusted TLS certificate, unknown host…). Still retried. */
  | "HUB_CONNECTION_FAILED"
  /** The client was closed; the operation cannot complete. */
  | "HUB_CLOSED"
  /** IoT Hub answered a request with a final error status (4xx other than 429, or a 5xx after retries were not allowed). */
  | "HUB_REQUEST_REJECTED"
  /** No final answer arrived in time (`requestTimeoutMs`, or `renewalTimeoutMs` for a renewal). */
  | "HUB_TIMEOUT"
  /** IoT Hub sent something this client cannot read. */
  | "HUB_PROTOCOL_ERROR"
  /** `renewCertificate` was called while another renewal of this client is in flight. */
  | "HUB_RENEWAL_IN_PROGRESS"
  /** The connection does not use the api-version that carries `$iothub/credentials` (2025-08-01-preview). */
  | "HUB_RENEWAL_UNSUPPORTED"
  /** The chain the hub issued does not match the CSR or does not verify. */
  | "HUB_ISSUED_CHAIN_INVALID";

export interface HubErrorDetails extends ServiceErrorDetails {
  info?: Readonly<Record<string, unknown>> | undefined;
  /** `$rid` of the request. */
  requestId?: string | undefined;
  /** Problems found in an issued chain. */
  problems?: readonly string[] | undefined;
}

/** Every error this package rejects with (an abort rejects with `signal.reason` instead). */
export class HubError extends ServiceError<HubErrorCode> {
  readonly info: Readonly<Record<string, unknown>> | undefined;
  readonly requestId: string | undefined;
  readonly problems: readonly string[] | undefined;

  constructor(code: HubErrorCode, message: string, details: HubErrorDetails = {}) {
    super(code, message, details);
    this.info = details.info;
    this.requestId = details.requestId;
    this.problems = details.problems;
  }
}

/** True for a {@link HubError}, also across copies of this package. */
export const isHubError = errorGuard<HubError>("HubError", "HUB_");

export const UNAUTHORIZED_HINT =
  "Likely causes: a wrong device key or an expired SAS token; a certificate whose CN is not the device id, that was not " +
  "issued by a CA the hub trusts, or sent without its chain; or a device that is disabled or registered on another hub.";

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
