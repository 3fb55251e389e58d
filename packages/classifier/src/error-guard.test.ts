import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { ClassifierError, isClassifierError } from "./index.ts";

describe("isClassifierError", () => {
  const error = new ClassifierError("CLASSIFIER_IO_ERROR", "broken");

  it("accepts a ClassifierError", () => {
    expect(isClassifierError(error)).toBe(true);
  });

  it("accepts a ClassifierError from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(ClassifierError);
    expect(isClassifierError(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isClassifierError(value)).toBe(false);
  });
});
