import { UNTRUSTED_CERTIFICATE_CODES } from "@skittlesorter/core";
import { describe, expect, it } from "vitest";
import { classifyConnectError } from "./connection.ts";

describe("classifyConnectError", () => {
  it.each([...UNTRUSTED_CERTIFICATE_CODES])("says which root to trust for %s", (code) => {
    const error = classifyConnectError(
      Object.assign(new Error("certificate verify failed"), { code }),
      "mqtts://hub.example:8883",
      "sorter-1",
    );
    expect(error.code).toBe("HUB_CONNECTION_FAILED");
    expect(error.message).toContain("is not trusted");
    expect(error.message).toContain("Pass the root CA that signed it as `ca`");
  });
});
