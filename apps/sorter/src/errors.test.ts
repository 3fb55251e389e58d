import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { ConfigError, isConfigError, isSorterError, SorterError } from "./errors.ts";

describe("error guards", () => {
  const sorterError = new SorterError("HUB_TIMEOUT", "late");
  const configError = new ConfigError("CONFIG_INVALID", undefined, [{ path: "x", message: "y", fix: "z" }]);

  it("isSorterError accepts SorterErrors and ConfigErrors; isConfigError only ConfigErrors", () => {
    expect(isSorterError(sorterError)).toBe(true);
    expect(isSorterError(configError)).toBe(true);
    expect(isConfigError(configError)).toBe(true);
    expect(isConfigError(sorterError)).toBe(false);
  });

  it("accepts errors from another copy of the package", () => {
    expect(isSorterError(errorFromAnotherCopy(sorterError))).toBe(true);
    expect(isConfigError(errorFromAnotherCopy(configError))).toBe(true);
  });

  it.each([...errorLookAlikes(sorterError), ...errorLookAlikes(configError)])(
    "rejects $what",
    ({ value }) => {
      expect(isSorterError(value)).toBe(false);
      expect(isConfigError(value)).toBe(false);
    },
  );
});
