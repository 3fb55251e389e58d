import { errorGuard, SkittleError } from "@skittlesorter/core";

/** Every code a {@link CsrError} can carry. */
export type CsrErrorCode =
  /** The key is not one of {@link KEY_TYPES} (EC P-384/P-256, RSA 2048/3072/4096). */
  | "CSR_UNSUPPORTED_KEY_TYPE"
  /** The input is not a parseable PKCS#10 CSR, or its signature does not verify when that was required. */
  | "CSR_INVALID"
  /** The CSR is signed with a weak or unknown signature algorithm (e.g. SHA-1 or MD5); SHA-256 or stronger is needed. */
  | "CSR_WEAK_SIGNATURE"
  /** The common name cannot go into a CSR subject (empty, too long, control characters). */
  | "CSR_INVALID_SUBJECT"
  /** The input is not a parseable X.509 certificate. */
  | "CERT_INVALID"
  /** A certificate chain is empty or one of its entries is not a certificate. */
  | "CHAIN_INVALID"
  /** A key has the wrong kind (e.g. a public key where a private key is needed). */
  | "KEY_INVALID"
  /** The private and public key of a key pair do not belong together. */
  | "KEY_PAIR_MISMATCH"
  /** A private key file does not exist. */
  | "KEY_FILE_NOT_FOUND"
  /** A private key file does not hold an unencrypted private key (PEM or DER). */
  | "KEY_FILE_INVALID"
  /** A private key file exists and overwriting was not allowed. */
  | "KEY_FILE_EXISTS"
  /** The private key does not belong to the certificate. */
  | "KEY_CERT_MISMATCH"
  /** The issuer given to a CA helper cannot issue (not a CA, key mismatch, path length exhausted). */
  | "ISSUER_INVALID"
  /** Reading a file failed for a reason other than it missing. */
  | "FILE_READ_FAILED"
  /** Writing a file failed. */
  | "FILE_WRITE_FAILED"
  /** An option has an invalid value (e.g. a negative validity). */
  | "INVALID_ARGUMENT";

/** The error thrown by `@skittlesorter/csr`. Messages never contain key material. */
export class CsrError extends SkittleError<CsrErrorCode> {
  /** The file involved, for file errors. */
  readonly path: string | undefined;

  constructor(code: CsrErrorCode, message: string, options: { cause?: unknown; path?: string } = {}) {
    super(code, message, { cause: options.cause });
    this.path = options.path;
  }
}

/** True for a {@link CsrError}, also when two copies of this package are installed. */
export const isCsrError = errorGuard<CsrError>("CsrError", [
  "CSR_",
  "CERT_",
  "CHAIN_",
  "KEY_",
  "ISSUER_",
  "FILE_",
  "INVALID_ARGUMENT",
]);

/** A short description of an unknown thrown value, safe for error messages. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
