import { errorFromAnotherCopy, errorLookAlikes } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { HubError, isHubError } from "./index.ts";

describe("isHubError", () => {
  const error = new HubError("HUB_TIMEOUT", "late");

  it("accepts a HubError", () => {
    expect(isHubError(error)).toBe(true);
  });

  it("accepts a HubError from another copy of the package", () => {
    const copy = errorFromAnotherCopy(error);
    expect(copy).not.toBeInstanceOf(HubError);
    expect(isHubError(copy)).toBe(true);
  });

  it.each(errorLookAlikes(error))("rejects $what", ({ value }) => {
    expect(isHubError(value)).toBe(false);
  });
});
