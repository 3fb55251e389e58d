/** Marks every SkittleError, so guards work across two installed copies of this package. */
const BRAND = Symbol.for("@skittlesorter/core/SkittleError");

/**
 * Base class of every error thrown by a skittlesorter package. Each package narrows `code` to its own
 * string-literal union; protocol data (status codes, tracking ids) goes on fields of the subclass.
 */
export class SkittleError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    // An undefined cause stays absent (no own `cause` property), so subclasses pass `{ cause: maybe }` as it is.
    super(message, options?.cause === undefined ? undefined : options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True for any SkittleError, also when two copies of this package are installed. Node's own errors
 * (`ENOENT`, `ERR_…`) carry a string `code` too; they are not SkittleErrors.
 */
export function isSkittleError(value: unknown): value is SkittleError {
  return value instanceof Error && (value as unknown as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Builds a package's error guard: a SkittleError whose `name` is `name` and whose `code` starts with one
 * of `codePrefixes`. Checking name and prefix, not `instanceof`, keeps the guard true across copies.
 *
 * @example export const isCsrError = errorGuard<CsrError>("CsrError", ["CSR_", "CERT_", "CHAIN_"]);
 */
export function errorGuard<E extends SkittleError>(
  name: string,
  codePrefixes: string | readonly string[],
): (value: unknown) => value is E {
  const prefixes = typeof codePrefixes === "string" ? [codePrefixes] : codePrefixes;
  return (value: unknown): value is E =>
    isSkittleError(value) && value.name === name && prefixes.some((prefix) => value.code.startsWith(prefix));
}

/** The fields of an Azure service's error answer, as data: never parsed back out of a message. */
export interface ServiceErrorDetails {
  cause?: unknown;
  /** Status of the answer (HTTP status, or the `{status}` segment of an MQTT response topic). */
  statusCode?: number | undefined;
  /** The service's numeric `errorCode` from the error body (e.g. DPS 401002, IoT Hub 409004). */
  errorCode?: number | undefined;
  trackingId?: string | undefined;
  timestampUtc?: string | undefined;
}

/**
 * Base class of a package error that may carry an Azure service's error answer. Subclasses add their own
 * fields (request ids, registration status…) and keep their own name and code union.
 */
export class ServiceError<Code extends string = string> extends SkittleError<Code> {
  readonly statusCode: number | undefined;
  readonly errorCode: number | undefined;
  readonly trackingId: string | undefined;
  readonly timestampUtc: string | undefined;

  constructor(code: Code, message: string, details: ServiceErrorDetails = {}) {
    super(code, message, { cause: details.cause });
    this.statusCode = details.statusCode;
    this.errorCode = details.errorCode;
    this.trackingId = details.trackingId;
    this.timestampUtc = details.timestampUtc;
  }
}
