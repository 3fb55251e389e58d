import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { AttestationError, isAttestationError } from "./index.ts";

describe("isAttestationError", () => {
  const error = new AttestationError("SAS_EXPIRED", "expired");

  it("accepts a AttestationError", () => {
    expect(isAttestationError(error)).toBe(true);
  });

  it("accepts a AttestationError from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(AttestationError);
    expect(isAttestationError(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isAttestationError(value)).toBe(false);
  });
});
