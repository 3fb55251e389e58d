import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { AdrError, isAdrError } from "./index.ts";

describe("isAdrError", () => {
  const error = new AdrError("ADR_TIMEOUT", "late");

  it("accepts a AdrError", () => {
    expect(isAdrError(error)).toBe(true);
  });

  it("accepts a AdrError from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(AdrError);
    expect(isAdrError(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isAdrError(value)).toBe(false);
  });
});
