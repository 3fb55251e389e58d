import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { CsrError, isCsrError } from "./index.ts";

describe("isCsrError", () => {
  const error = new CsrError("KEY_FILE_INVALID", "not a key");

  it("accepts a CsrError", () => {
    expect(isCsrError(error)).toBe(true);
  });

  it("accepts a CsrError from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(CsrError);
    expect(isCsrError(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isCsrError(value)).toBe(false);
  });
});
