import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { I2cError, isI2cError } from "./index.ts";

describe("isI2cError", () => {
  const error = new I2cError("I2C_NACK", "no answer");

  it("accepts a I2cError", () => {
    expect(isI2cError(error)).toBe(true);
  });

  it("accepts a I2cError from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(I2cError);
    expect(isI2cError(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isI2cError(value)).toBe(false);
  });
});
