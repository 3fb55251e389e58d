import { errorGuard, ServiceError, type ServiceErrorDetails } from "@skittlesorter/core";
import type { RegistrationStatus, WireErrorDetails } from "./protocol.ts";

export type DpsErrorCode =
  /** The options are unusable (missing host, bad registration id, CSR CN mismatch…). */
  | "DPS_INVALID_OPTIONS"
  /** DPS refused the credentials: CONNACK "not authorized" or a 401 answer. */
  | "DPS_UNAUTHORIZED"
  /** The registration ended with status `failed`. */
  | "DPS_REGISTRATION_FAILED"
  /** The enrollment or registration is disabled. */
  | "DPS_REGISTRATION_DISABLED"
  /** A final 4xx answer other than 401. */
  | "DPS_REQUEST_REJECTED"
  /** The overall deadline (`timeoutMs`) passed. */
  | "DPS_TIMEOUT"
  /** The connection could not be made and retrying cannot help (TLS verification, unknown host…). */
  | "DPS_CONNECTION_FAILED"
  /** DPS answered something this client cannot read. */
  | "DPS_PROTOCOL_ERROR"
  /** A CSR was sent, the device was assigned, but no certificate chain came back. */
  | "DPS_CERTIFICATE_NOT_ISSUED"
  /** The returned chain does not match the CSR or does not verify. */
  | "DPS_ISSUED_CHAIN_INVALID";

export interface DpsErrorDetails extends ServiceErrorDetails {
  info?: Readonly<Record<string, string>> | undefined;
  /** `failed` or `disabled` when the registration ended that way. */
  registrationStatus?: RegistrationStatus | undefined;
  operationId?: string | undefined;
  /** Problems found in an issued chain. */
  problems?: readonly string[] | undefined;
}

/** Every error `provision` rejects with (except an abort, which rejects with `signal.reason`). */
export class DpsError extends ServiceError<DpsErrorCode> {
  readonly info: Readonly<Record<string, string>> | undefined;
  readonly registrationStatus: RegistrationStatus | undefined;
  readonly operationId: string | undefined;
  readonly problems: readonly string[] | undefined;

  constructor(code: DpsErrorCode, message: string, details: DpsErrorDetails = {}) {
    super(code, message, details);
    this.info = details.info;
    this.registrationStatus = details.registrationStatus;
    this.operationId = details.operationId;
    this.problems = details.problems;
  }
}

/** True for a {@link DpsError}, also across copies of this package. */
export const isDpsError = errorGuard<DpsError>("DpsError", "DPS_");

export const UNAUTHORIZED_HINT =
  "Likely causes: a wrong device or group key, or an expired SAS token; an X.509 CA that is not " +
  "uploaded and verified in DPS (proof of possession), or a chain not sent with the certificate; " +
  "a registration id that differs from the enrollment (it must be lowercase and, for X.509, equal the certificate CN); " +
  "or a wrong id scope.";

/** The error for a final (non-transient) error answer. */
export function errorFromAnswer(
  statusCode: number,
  details: WireErrorDetails,
  context: { operationId?: string | undefined; registrationId: string },
): DpsError {
  const fields: DpsErrorDetails = {
    statusCode,
    errorCode: details.errorCode,
    trackingId: details.trackingId,
    timestampUtc: details.timestampUtc,
    info: details.info,
    operationId: context.operationId,
  };
  const said = describe(statusCode, details);
  if (statusCode === 401) {
    return new DpsError(
      "DPS_UNAUTHORIZED",
      `DPS refused registration "${context.registrationId}" as unauthorized (${said}). ${UNAUTHORIZED_HINT}`,
      fields,
    );
  }
  const hint =
    statusCode === 400
      ? " Check the request: a CSR must be base64 DER PKCS#10 with CN = registration id, sent with api-version 2025-07-01-preview, and the payload valid JSON."
      : statusCode === 404
        ? " Check the id scope and that an enrollment exists for this registration id."
        : "";
  return new DpsError("DPS_REQUEST_REJECTED", `DPS rejected the request (${said}).${hint}`, fields);
}

/** `401 401002 "Invalid certificate." trackingId …` */
function describe(statusCode: number, details: WireErrorDetails): string {
  const parts = [`status ${statusCode}`];
  if (details.errorCode !== undefined) parts.push(`errorCode ${details.errorCode}`);
  if (details.message !== undefined) parts.push(JSON.stringify(details.message));
  if (details.trackingId !== undefined) parts.push(`trackingId ${details.trackingId}`);
  return parts.join(", ");
}
