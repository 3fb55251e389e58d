import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { DpsError, isDpsError } from "./index.ts";

describe("isDpsError", () => {
  const error = new DpsError("DPS_TIMEOUT", "late");

  it("accepts a DpsError", () => {
    expect(isDpsError(error)).toBe(true);
  });

  it("accepts a DpsError from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(DpsError);
    expect(isDpsError(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isDpsError(value)).toBe(false);
  });
});
