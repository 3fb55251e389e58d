import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { deriveDeviceKey } from "./keys.ts";

// Microsoft's worked example (DPS docs, concepts-symmetric-key-attestation.md).
const GROUP_KEY = "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==";
const REGISTRATION_ID = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6";
const DEVICE_KEY = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";

describe("deriveDeviceKey", () => {
  it("reproduces Microsoft's test vector", () => {
    expect(deriveDeviceKey(GROUP_KEY, REGISTRATION_ID)).toBe(DEVICE_KEY);
  });

  it("derives over the lowercased registration id", () => {
    expect(deriveDeviceKey(GROUP_KEY, REGISTRATION_ID.toUpperCase())).toBe(DEVICE_KEY);
  });

  it("gives different keys for different registration ids", () => {
    expect(deriveDeviceKey(GROUP_KEY, "dev-2")).not.toBe(deriveDeviceKey(GROUP_KEY, "dev-1"));
    expect(deriveDeviceKey(GROUP_KEY, "dev-2")).toBe(
      createHmac("sha256", Buffer.from(GROUP_KEY, "base64")).update("dev-2").digest("base64"),
    );
  });

  it.each([
    ["not base64", "not base64!!"],
    ["wrong padding", "AAAAAAAAAAAAAAAAAAAAAAA"],
    ["base64url", "AAAAAAAAAAAAAAAAAAAAAA-_"],
    ["empty", ""],
    ["too short (8 bytes)", Buffer.alloc(8, 1).toString("base64")],
    ["too long (65 bytes)", Buffer.alloc(65, 1).toString("base64")],
  ])("rejects a group key that is %s with ATTESTATION_INVALID_KEY, without echoing it", (_what, key) => {
    let caught: unknown;
    try {
      deriveDeviceKey(key, REGISTRATION_ID);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ name: "AttestationError", code: "ATTESTATION_INVALID_KEY" });
    const message = (caught as Error).message;
    expect(message).toContain("group key");
    if (key.length > 0) expect(message).not.toContain(key);
  });

  it("rejects an invalid registration id before touching the key", () => {
    expect(() => deriveDeviceKey(GROUP_KEY, "bad id")).toThrow(
      expect.objectContaining({ code: "ATTESTATION_INVALID_REGISTRATION_ID" }),
    );
  });
});
