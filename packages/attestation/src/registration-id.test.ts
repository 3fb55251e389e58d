import { describe, expect, it } from "vitest";
import { AttestationError } from "./errors.ts";
import { validateRegistrationId } from "./registration-id.ts";

function errorOf(fn: () => unknown): AttestationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AttestationError) return error;
    throw error;
  }
  throw new Error("expected an AttestationError");
}

describe("validateRegistrationId", () => {
  it("accepts ids made of the allowed characters and returns them unchanged", () => {
    for (const id of [
      "a",
      "dev-1",
      "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6",
      "a.b:c_d-e",
      "0",
      "x".repeat(128),
    ]) {
      expect(validateRegistrationId(id)).toBe(id);
    }
  });

  it("normalises uppercase to lowercase", () => {
    expect(validateRegistrationId("Sorter-PI-01")).toBe("sorter-pi-01");
  });

  it("rejects an empty id", () => {
    const error = errorOf(() => validateRegistrationId(""));
    expect(error.code).toBe("ATTESTATION_INVALID_REGISTRATION_ID");
    expect(error.message).toMatch(/empty/);
  });

  it("rejects ids longer than 128 characters, naming the length and the rule", () => {
    const error = errorOf(() => validateRegistrationId("x".repeat(129)));
    expect(error.code).toBe("ATTESTATION_INVALID_REGISTRATION_ID");
    expect(error.message).toContain("129 characters");
    expect(error.message).toContain("1-128 characters");
  });

  it.each([
    ["dev 1", '" "', 4],
    ["dev/1", '"/"', 4],
    ["dev#1", '"#"', 4],
    ["dév-1", '"é"', 2],
    ["dev😀1", '"😀"', 4],
  ])("rejects %j naming the bad character and its position", (id, char, position) => {
    const error = errorOf(() => validateRegistrationId(id));
    expect(error.code).toBe("ATTESTATION_INVALID_REGISTRATION_ID");
    expect(error.message).toContain(`contains ${char} at position ${position}`);
    expect(error.message).toContain("a-z, 0-9, '.', ':', '_' and '-'");
  });

  it.each(["-dev", ".dev", ":dev", "_dev"])("rejects %j, which starts with a non-alphanumeric", (id) => {
    const error = errorOf(() => validateRegistrationId(id));
    expect(error.code).toBe("ATTESTATION_INVALID_REGISTRATION_ID");
    expect(error.message).toMatch(/starts with/);
  });

  it.each(["dev-", "dev.", "dev:", "dev_"])("rejects %j, which ends with a non-alphanumeric", (id) => {
    const error = errorOf(() => validateRegistrationId(id));
    expect(error.code).toBe("ATTESTATION_INVALID_REGISTRATION_ID");
    expect(error.message).toMatch(/ends with/);
  });
});
