import { SkittleError } from "@skittlesorter/core";

/**
 * Values a package's error guard must reject although they resemble `error`: the same name and code on a plain
 * `Error` (no SkittleError brand), the same code on another package's SkittleError, the same name with a foreign
 * code, Node's `ENOENT`, and the bare code string.
 */
export function errorLookAlikes(error: SkittleError): { what: string; value: unknown }[] {
  class OtherPackageError extends SkittleError {}
  const named = (value: SkittleError) => {
    Object.defineProperty(value, "name", { value: error.name });
    return value;
  };
  return [
    {
      what: "a plain Error with the same name and code",
      value: Object.assign(new Error(error.message), { name: error.name, code: error.code }),
    },
    { what: "another package's error with the same code", value: new OtherPackageError(error.code, "x") },
    { what: "the same name with a foreign code", value: named(new SkittleError("FOREIGN_CODE", "x")) },
    { what: "Node's ENOENT", value: Object.assign(new Error("no such file"), { code: "ENOENT" }) },
    { what: "the bare code", value: error.code },
  ];
}

/** `error` as a second installed copy of its package would throw it: another class of the same name and code. */
export function errorFromAnotherCopy(error: SkittleError): SkittleError {
  const copies = { [error.name]: class extends SkittleError {} };
  const Copy = copies[error.name] as typeof SkittleError;
  return new Copy(error.code, error.message);
}
