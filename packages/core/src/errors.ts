/**
 * Base class of every error thrown by a skittlesorter package. Each package narrows `code` to its own
 * string-literal union; protocol data (status codes, tracking ids) goes on fields of the subclass.
 */
export class SkittleError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True for any SkittleError, also when two copies of this package are installed. */
export function isSkittleError(value: unknown): value is SkittleError {
  return value instanceof Error && typeof (value as { code?: unknown }).code === "string";
}
