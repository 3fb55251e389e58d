import { errorGuard, SkittleError } from "@skittlesorter/core";

/** Every code an {@link AdrError} can carry. */
export type AdrErrorCode =
  /** `createAdrClient` options are unusable (missing namespace, plain-http base URL to a remote host…). */
  | "ADR_INVALID_OPTIONS"
  /** `updateDevice` was given a field that is read-only, unknown, or of the wrong type; nothing was sent. */
  | "ADR_INVALID_PATCH"
  /** The credential could not produce a token (not signed in, wrong tenant, identity unavailable). */
  | "ADR_CREDENTIAL_FAILED"
  /** ARM answered 401: the bearer token was refused. */
  | "ADR_UNAUTHORIZED"
  /** ARM answered 403: the identity lacks a role on the namespace. */
  | "ADR_FORBIDDEN"
  /** ARM answered 404 where a resource must exist (namespace, device to delete, parent of a listing). */
  | "ADR_NOT_FOUND"
  /** Still 429 after the pipeline's retries. */
  | "ADR_THROTTLED"
  /** Any other non-success answer (400, 409, 5xx after retries…). */
  | "ADR_REQUEST_FAILED"
  /** A long-running operation ended `Failed` or `Canceled`, or its status URL answered an error. */
  | "ADR_LRO_FAILED"
  /** The operation did not finish within `timeoutMs`. */
  | "ADR_TIMEOUT"
  /** The endpoint could not be reached (connection refused, DNS, TLS). */
  | "ADR_CONNECTION_FAILED"
  /** The service answered something this client cannot use (not JSON, no `value` array, foreign `nextLink`…). */
  | "ADR_PROTOCOL_ERROR";

export interface AdrErrorDetails {
  cause?: unknown;
  /** HTTP status of the answer that failed the call. */
  statusCode?: number | undefined;
  /** ARM `error.code`, e.g. `ResourceNotFound`, `AuthorizationFailed`, `InvalidAuthenticationToken`. */
  armCode?: string | undefined;
  /** ARM `error.message`. */
  armMessage?: string | undefined;
  /** `x-ms-request-id` of the failed answer. */
  requestId?: string | undefined;
  /** `x-ms-correlation-request-id` of the failed answer. */
  correlationId?: string | undefined;
  /** For `ADR_INVALID_PATCH`: the offending field. */
  field?: string | undefined;
  /** For `ADR_LRO_FAILED`: the operation's final status (`Failed`, `Canceled`). */
  operationStatus?: string | undefined;
}

/** Every error the ADR client rejects with (except an abort, which rejects with `signal.reason`). */
export class AdrError extends SkittleError<AdrErrorCode> {
  readonly statusCode: number | undefined;
  readonly armCode: string | undefined;
  readonly armMessage: string | undefined;
  readonly requestId: string | undefined;
  readonly correlationId: string | undefined;
  readonly field: string | undefined;
  readonly operationStatus: string | undefined;

  constructor(code: AdrErrorCode, message: string, details: AdrErrorDetails = {}) {
    super(code, message, { cause: details.cause });
    this.statusCode = details.statusCode;
    this.armCode = details.armCode;
    this.armMessage = details.armMessage;
    this.requestId = details.requestId;
    this.correlationId = details.correlationId;
    this.field = details.field;
    this.operationStatus = details.operationStatus;
  }
}

/** True for an {@link AdrError}, also across copies of this package. */
export const isAdrError = errorGuard<AdrError>("AdrError", "ADR_");
