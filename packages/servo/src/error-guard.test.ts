import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { isServoError, ServoError } from "./index.ts";

describe("isServoError", () => {
  const error = new ServoError("SERVO_CLOSED", "closed");

  it("accepts a ServoError", () => {
    expect(isServoError(error)).toBe(true);
  });

  it("accepts a ServoError from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(ServoError);
    expect(isServoError(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isServoError(value)).toBe(false);
  });
});
