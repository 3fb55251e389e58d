import { describe, expect, it } from "vitest";
import { mqttCredentials, symmetricKeyAttestation } from "./attestation.ts";
import { verifySasToken } from "./sas.ts";
import { fixedClock } from "./test-clock.test-support.ts";

const GROUP_KEY = "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==";
const REGISTRATION_ID = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6";
const DEVICE_KEY = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";

describe("symmetricKeyAttestation", () => {
  it("derives the device key from a group key", () => {
    expect(symmetricKeyAttestation({ registrationId: REGISTRATION_ID, groupKey: GROUP_KEY })).toEqual({
      kind: "symmetricKey",
      registrationId: REGISTRATION_ID,
      deviceKey: DEVICE_KEY,
    });
  });

  it("takes a device key as is and lowercases the registration id", () => {
    expect(symmetricKeyAttestation({ registrationId: "Dev-1", deviceKey: DEVICE_KEY })).toEqual({
      kind: "symmetricKey",
      registrationId: "dev-1",
      deviceKey: DEVICE_KEY,
    });
  });

  it("rejects a bad device key or registration id", () => {
    expect(() => symmetricKeyAttestation({ registrationId: "dev-1", deviceKey: "nope" })).toThrow(
      expect.objectContaining({ code: "ATTESTATION_INVALID_KEY" }),
    );
    expect(() => symmetricKeyAttestation({ registrationId: "-dev", deviceKey: DEVICE_KEY })).toThrow(
      expect.objectContaining({ code: "ATTESTATION_INVALID_REGISTRATION_ID" }),
    );
  });
});

describe("mqttCredentials for symmetric keys", () => {
  it("gives a SAS password for the DPS registration resource with skn=registration", () => {
    const clock = fixedClock(1_750_000_000_000);
    const attestation = symmetricKeyAttestation({ registrationId: "dev-1", deviceKey: DEVICE_KEY });
    const credentials = mqttCredentials(attestation, { idScope: "0ne00000A0A", ttlSeconds: 120, clock });
    expect(Object.keys(credentials)).toEqual(["password"]);
    const parsed = verifySasToken(credentials.password ?? "", DEVICE_KEY, {
      expectedResourceUri: "0ne00000A0A/registrations/dev-1",
      keyName: "registration",
      clock,
    });
    expect(parsed.expiresAt).toBe(1_750_000_000 + 120);
  });
});
