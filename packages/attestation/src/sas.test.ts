import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import type { AttestationErrorCode } from "./errors.ts";
import {
  createSasToken,
  dpsResourceUri,
  parseSasToken,
  redactSasToken,
  type VerifySasOptions,
  verifySasToken,
} from "./sas.ts";
import { fixedClock } from "./test-clock.test-support.ts";

// The official Node SDK's SAS implementation, used as an independent oracle.
const azureCommon = createRequire(import.meta.url)("azure-iot-common") as typeof import("azure-iot-common");
const { SharedAccessSignature, encodeUriComponentStrict } = azureCommon;

const DEVICE_KEY = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";
const OTHER_KEY = Buffer.alloc(32, 7).toString("base64");
const URI = "0ne00000A0A/registrations/dev-1";
const NOW_MS = 1_750_000_000_000;
const clock = fixedClock(NOW_MS);
const SE = NOW_MS / 1000 + 3600;

function codeOf(fn: () => unknown): AttestationErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: AttestationErrorCode }).code;
  }
  return undefined;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected a throw");
}

describe("dpsResourceUri", () => {
  it("builds {idScope}/registrations/{registrationId} with the id lowercased", () => {
    expect(dpsResourceUri("0ne00000A0A", "Dev-1")).toBe(URI);
  });

  it("rejects an invalid id scope or registration id", () => {
    expect(codeOf(() => dpsResourceUri("", "dev-1"))).toBe("ATTESTATION_INVALID_ID_SCOPE");
    expect(codeOf(() => dpsResourceUri("0ne/x", "dev-1"))).toBe("ATTESTATION_INVALID_ID_SCOPE");
    expect(codeOf(() => dpsResourceUri("0ne00000A0A", "dev 1"))).toBe("ATTESTATION_INVALID_REGISTRATION_ID");
  });
});

describe("createSasToken", () => {
  it("produces the same sr and signature as azure-iot-common when given the encoded uri", () => {
    const ours = createSasToken(URI, DEVICE_KEY, { keyName: "registration", expiresAt: SE });
    const theirs = SharedAccessSignature.create(
      encodeUriComponentStrict(URI),
      "registration",
      DEVICE_KEY,
      SE,
    );
    // azure-iot-common orders sr, sig, skn, se; ours is sr, sig, se, skn. Compare field by field.
    const parsed = SharedAccessSignature.parse(ours, ["sr", "sig", "se", "skn"]);
    expect(parsed.sr).toBe(theirs.sr);
    expect(parsed.sig).toBe(theirs.sig);
    expect(String(parsed.se)).toBe(String(theirs.se));
    expect(parsed.skn).toBe(theirs.skn);
    expect(ours).toBe(
      `SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fdev-1&sig=${theirs.sig}&se=${SE}&skn=registration`,
    );
  });

  it("defaults to one hour from the clock, takes ttlSeconds, and lets expiresAt override it", () => {
    expect(parseSasToken(createSasToken(URI, DEVICE_KEY, { clock })).expiresAt).toBe(SE);
    expect(parseSasToken(createSasToken(URI, DEVICE_KEY, { clock, ttlSeconds: 60 })).expiresAt).toBe(
      NOW_MS / 1000 + 60,
    );
    expect(
      parseSasToken(createSasToken(URI, DEVICE_KEY, { clock, ttlSeconds: 60, expiresAt: 2_000_000_000 }))
        .expiresAt,
    ).toBe(2_000_000_000);
  });

  it("omits skn without a key name", () => {
    const token = createSasToken(URI, DEVICE_KEY, { clock });
    expect(token).not.toContain("skn=");
    expect(parseSasToken(token).keyName).toBeUndefined();
  });

  it("rejects bad expiry options, an empty resource uri and a bad key", () => {
    expect(codeOf(() => createSasToken(URI, DEVICE_KEY, { ttlSeconds: 0 }))).toBe("SAS_INVALID_EXPIRY");
    expect(codeOf(() => createSasToken(URI, DEVICE_KEY, { ttlSeconds: 1.5 }))).toBe("SAS_INVALID_EXPIRY");
    expect(codeOf(() => createSasToken(URI, DEVICE_KEY, { expiresAt: -1 }))).toBe("SAS_INVALID_EXPIRY");
    expect(codeOf(() => createSasToken("", DEVICE_KEY))).toBe("SAS_INVALID_RESOURCE_URI");
    expect(codeOf(() => createSasToken(URI, "%%%"))).toBe("ATTESTATION_INVALID_KEY");
  });
});

describe("verifySasToken", () => {
  const options: VerifySasOptions = { expectedResourceUri: URI, keyName: "registration", clock };
  const token = createSasToken(URI, DEVICE_KEY, { keyName: "registration", expiresAt: SE });

  it("accepts our own token and returns it parsed", () => {
    expect(verifySasToken(token, DEVICE_KEY, options)).toEqual({
      sr: "0ne00000A0A%2Fregistrations%2Fdev-1",
      resourceUri: URI,
      // Signed over the encoded uri as sent, computed here independently.
      signature: createHmac("sha256", Buffer.from(DEVICE_KEY, "base64"))
        .update(`0ne00000A0A%2Fregistrations%2Fdev-1\n${SE}`)
        .digest("base64"),
      expiresAt: SE,
      keyName: "registration",
    });
  });

  it("accepts a token from the official Node SDK, which signs the unencoded uri", () => {
    const theirs = SharedAccessSignature.create(URI, "registration", DEVICE_KEY, SE).toString();
    expect(theirs).toContain(`sr=${URI}&`);
    expect(verifySasToken(theirs, DEVICE_KEY, options).resourceUri).toBe(URI);
  });

  it("accepts a signature over the lower-case-encoded sr as sent (embedded C SDK style)", () => {
    const sr = "0ne00000A0A%2fregistrations%2fdev-1";
    const theirs = SharedAccessSignature.create(sr, "registration", DEVICE_KEY, SE).toString();
    expect(verifySasToken(theirs, DEVICE_KEY, options).sr).toBe(sr);
  });

  it("accepts the parameters in any order", () => {
    const { sr, signature, expiresAt } = parseSasToken(token);
    const reordered = `SharedAccessSignature skn=registration&se=${expiresAt}&sig=${encodeURIComponent(signature)}&sr=${sr}`;
    expect(verifySasToken(reordered, DEVICE_KEY, options).expiresAt).toBe(SE);
  });

  it("rejects a token signed with another key", () => {
    const forged = createSasToken(URI, OTHER_KEY, { keyName: "registration", expiresAt: SE });
    expect(codeOf(() => verifySasToken(forged, DEVICE_KEY, options))).toBe("SAS_SIGNATURE_MISMATCH");
  });

  it("rejects a tampered signature, expiry or resource", () => {
    const sig = encodeURIComponent(parseSasToken(token).signature);
    const flipped = sig.startsWith("A") ? `B${sig.slice(1)}` : `A${sig.slice(1)}`;
    expect(codeOf(() => verifySasToken(token.replace(sig, flipped), DEVICE_KEY, options))).toBe(
      "SAS_SIGNATURE_MISMATCH",
    );
    expect(codeOf(() => verifySasToken(token.replace(sig, "AAAA"), DEVICE_KEY, options))).toBe(
      "SAS_SIGNATURE_MISMATCH",
    );
    expect(codeOf(() => verifySasToken(token.replace(`se=${SE}`, `se=${SE + 1}`), DEVICE_KEY, options))).toBe(
      "SAS_SIGNATURE_MISMATCH",
    );
    expect(codeOf(() => verifySasToken(token.replace("dev-1", "dev-2"), DEVICE_KEY, options))).toBe(
      "SAS_SIGNATURE_MISMATCH",
    );
  });

  it("rejects an expired token, including at the exact expiry second", () => {
    expect(codeOf(() => verifySasToken(token, DEVICE_KEY, { clock: fixedClock(SE * 1000) }))).toBe(
      "SAS_EXPIRED",
    );
    expect(codeOf(() => verifySasToken(token, DEVICE_KEY, { clock: fixedClock(SE * 1000 + 1) }))).toBe(
      "SAS_EXPIRED",
    );
    expect(verifySasToken(token, DEVICE_KEY, { clock: fixedClock(SE * 1000 - 1) }).expiresAt).toBe(SE);
  });

  it("rejects a validly signed token for another resource, comparing case-insensitively", () => {
    const other = createSasToken("0ne00000A0A/registrations/dev-2", DEVICE_KEY, {
      keyName: "registration",
      expiresAt: SE,
    });
    expect(codeOf(() => verifySasToken(other, DEVICE_KEY, options))).toBe("SAS_RESOURCE_MISMATCH");
    expect(
      verifySasToken(token, DEVICE_KEY, { ...options, expectedResourceUri: URI.toUpperCase() }).resourceUri,
    ).toBe(URI);
  });

  it("rejects a wrong or missing skn when one is required", () => {
    const device = createSasToken(URI, DEVICE_KEY, { keyName: "device", expiresAt: SE });
    const none = createSasToken(URI, DEVICE_KEY, { expiresAt: SE });
    expect(codeOf(() => verifySasToken(device, DEVICE_KEY, options))).toBe("SAS_KEY_NAME_MISMATCH");
    expect(codeOf(() => verifySasToken(none, DEVICE_KEY, options))).toBe("SAS_KEY_NAME_MISMATCH");
    expect(verifySasToken(none, DEVICE_KEY, { clock }).keyName).toBeUndefined();
  });

  it("never puts the signature or key into its messages", () => {
    const forged = createSasToken(URI, OTHER_KEY, { keyName: "registration", expiresAt: SE });
    const message = messageOf(() => verifySasToken(forged, DEVICE_KEY, options));
    expect(message).not.toContain(parseSasToken(forged).signature);
    expect(message).not.toContain(DEVICE_KEY);
  });
});

describe("parseSasToken", () => {
  it("parses an azure-iot-common token, decoding sr, sig and skn", () => {
    const theirs = SharedAccessSignature.create(
      encodeUriComponentStrict(URI),
      "registration",
      DEVICE_KEY,
      SE,
    );
    expect(parseSasToken(theirs.toString())).toEqual({
      sr: encodeUriComponentStrict(URI),
      resourceUri: URI,
      signature: decodeURIComponent(theirs.sig),
      expiresAt: SE,
      keyName: "registration",
    });
  });

  it.each([
    ["", /does not start with "SharedAccessSignature "/],
    ["Bearer abc", /does not start with/],
    ["SharedAccessSignature ", /missing or contain spaces/],
    ["SharedAccessSignature sr=a&se=1", /missing "sig"/],
    ["SharedAccessSignature sig=a", /missing "sr", "se"/],
    ["SharedAccessSignature sr=a&sig=b&se=soon", /"se" must be the expiry in Unix seconds/],
    ["SharedAccessSignature sr=a&sig=b&se=1&sr=c", /"sr" appears more than once/],
    ["SharedAccessSignature sr=a&sig=b&se=1&oops", /parameter 4 is not name=value/],
    ["SharedAccessSignature sr=%E0%A4%A&sig=b&se=1", /"sr" is not valid URL encoding/],
  ])("rejects %j with SAS_MALFORMED saying what is wrong", (token, message) => {
    expect(codeOf(() => parseSasToken(token))).toBe("SAS_MALFORMED");
    expect(messageOf(() => parseSasToken(token))).toMatch(message);
  });

  it("rejects what azure-iot-common also rejects as malformed", () => {
    expect(() => SharedAccessSignature.parse("Bearer abc")).toThrow();
    expect(codeOf(() => parseSasToken("Bearer abc"))).toBe("SAS_MALFORMED");
  });
});

describe("redactSasToken", () => {
  it("replaces the signature with *** and keeps the rest", () => {
    const token = createSasToken(URI, DEVICE_KEY, { keyName: "registration", expiresAt: SE });
    const sig = token.match(/sig=([^&]*)/)?.[1] ?? "";
    expect(sig.length).toBeGreaterThan(20);
    const redacted = redactSasToken(token);
    expect(redacted).toBe(token.replace(sig, "***"));
    expect(redactSasToken(`password: ${SharedAccessSignature.create(URI, "", DEVICE_KEY, SE)}`)).toMatch(
      /^password: SharedAccessSignature sr=[^&]+&sig=\*\*\*&se=\d+$/,
    );
  });
});
