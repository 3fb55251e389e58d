import { errorGuard, SkittleError } from "@skittlesorter/core";

/** Every code an {@link AttestationError} can carry. */
export type AttestationErrorCode =
  | "ATTESTATION_INVALID_REGISTRATION_ID"
  | "ATTESTATION_INVALID_ID_SCOPE"
  | "ATTESTATION_INVALID_KEY"
  | "SAS_INVALID_EXPIRY"
  | "SAS_INVALID_RESOURCE_URI"
  | "SAS_MALFORMED"
  | "SAS_EXPIRED"
  | "SAS_SIGNATURE_MISMATCH"
  | "SAS_RESOURCE_MISMATCH"
  | "SAS_KEY_NAME_MISMATCH"
  | "X509_LOAD_FAILED"
  | "X509_NO_REGISTRATION_ID"
  | "X509_REGISTRATION_ID_TOO_LONG"
  | "X509_KEY_MISMATCH";

/** Thrown by every function of `@skittlesorter/attestation`. Messages never contain key material. */
export class AttestationError extends SkittleError<AttestationErrorCode> {}

/** True for an {@link AttestationError}, also across copies of this package. */
export const isAttestationError = errorGuard<AttestationError>("AttestationError", [
  "ATTESTATION_",
  "SAS_",
  "X509_",
]);
