import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { isTcs34725Error, Tcs34725Error } from "./index.ts";

describe("isTcs34725Error", () => {
  const error = new Tcs34725Error("TCS34725_CLOSED", "closed");

  it("accepts a Tcs34725Error", () => {
    expect(isTcs34725Error(error)).toBe(true);
  });

  it("accepts a Tcs34725Error from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(Tcs34725Error);
    expect(isTcs34725Error(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isTcs34725Error(value)).toBe(false);
  });
});
