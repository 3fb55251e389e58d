import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  mqttCredentials,
  parseSasToken,
  symmetricKeyAttestation,
  verifySasToken,
} from "@skittlesorter/attestation";
import { openssl, tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import {
  backoffDelayMs,
  csrWireForm,
  DPS_API_VERSION,
  DPS_CSR_API_VERSION,
  DPS_RESPONSE_TOPIC_FILTER,
  decodePayload,
  defaultPollDelayMs,
  dpsUsername,
  isTransientStatus,
  parseErrorDetails,
  parseOperationStatus,
  parseResponseTopic,
  parseRetryAfter,
  pollTopic,
  registerRequestBody,
  registerTopic,
  retryAfterDelayMs,
} from "./protocol.ts";

describe("dpsUsername", () => {
  it("follows {idScope}/registrations/{id}/api-version={ver}&ClientVersion={urlencoded UA}, no '?'", () => {
    expect(
      dpsUsername("0ne00000A0A", "dev-001", DPS_API_VERSION, "skittlesorter-dps-mqtt/1.2.3 (node)"),
    ).toBe(
      "0ne00000A0A/registrations/dev-001/api-version=2019-03-31&ClientVersion=skittlesorter-dps-mqtt%2F1.2.3%20(node)",
    );
    expect(dpsUsername("0ne00000A0A", "dev-001", DPS_CSR_API_VERSION)).toBe(
      "0ne00000A0A/registrations/dev-001/api-version=2025-07-01-preview",
    );
    expect(dpsUsername("s", "d", DPS_API_VERSION, "x")).not.toContain("?");
  });
});

describe("password (SAS token from the attestation)", () => {
  it("is a SharedAccessSignature for {idScope}/registrations/{id} with skn=registration that verifies", () => {
    const deviceKey = Buffer.alloc(32, 7).toString("base64");
    const attestation = symmetricKeyAttestation({ registrationId: "dev-001", deviceKey });
    const { password, cert, key } = mqttCredentials(attestation, { idScope: "0ne00000A0A" });
    expect(cert).toBeUndefined();
    expect(key).toBeUndefined();
    expect(password).toMatch(/^SharedAccessSignature sr=[^&]+&sig=[^&]+&se=\d+&skn=registration$/);
    const parsed = parseSasToken(password as string);
    expect(parsed.resourceUri).toBe("0ne00000A0A/registrations/dev-001");
    expect(() =>
      verifySasToken(password as string, deviceKey, {
        expectedResourceUri: "0ne00000A0A/registrations/dev-001",
        keyName: "registration",
      }),
    ).not.toThrow();
  });
});

describe("topics", () => {
  it("builds the register and poll topics with the $rid first", () => {
    expect(registerTopic("r-1")).toBe("$dps/registrations/PUT/iotdps-register/?$rid=r-1");
    expect(pollTopic("r-2", "4.d0a671905ea5b2c8.e7173b7b-0000")).toBe(
      "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=r-2&operationId=4.d0a671905ea5b2c8.e7173b7b-0000",
    );
    expect(DPS_RESPONSE_TOPIC_FILTER).toBe("$dps/registrations/res/#");
  });

  it("parses answers with and without retry-after", () => {
    expect(parseResponseTopic("$dps/registrations/res/202/?$rid=abc&retry-after=3")).toEqual({
      statusCode: 202,
      rid: "abc",
      retryAfterSeconds: 3,
    });
    expect(parseResponseTopic("$dps/registrations/res/200/?$rid=1")).toEqual({ statusCode: 200, rid: "1" });
    expect(parseResponseTopic("$dps/registrations/res/429/?$rid=x&retry-after=junk")).toEqual({
      statusCode: 429,
      rid: "x",
    });
  });

  it("rejects topics that are not DPS answers", () => {
    expect(parseResponseTopic("$dps/registrations/res/abc/?$rid=1")).toBeUndefined();
    expect(parseResponseTopic("$dps/registrations/res/200/?foo=1")).toBeUndefined();
    expect(parseResponseTopic("$dps/registrations/res/200")).toBeUndefined();
    expect(parseResponseTopic("devices/x/messages/devicebound/")).toBeUndefined();
  });
});

describe("retry-after and backoff", () => {
  it("parses seconds and ignores junk", () => {
    expect(parseRetryAfter("3")).toBe(3);
    expect(parseRetryAfter("1.5")).toBe(1.5);
    expect(parseRetryAfter("-1")).toBeUndefined();
    expect(parseRetryAfter("")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it("clamps retry-after into the sane range", () => {
    const bounds = { minRetryAfterMs: 1_000, maxRetryAfterMs: 300_000 };
    expect(retryAfterDelayMs(3, bounds)).toBe(3_000);
    expect(retryAfterDelayMs(0, bounds)).toBe(1_000);
    expect(retryAfterDelayMs(86_400, bounds)).toBe(300_000);
  });

  it("adds up to half the poll interval as jitter", () => {
    expect(defaultPollDelayMs(2_000, () => 0)).toBe(2_000);
    expect(defaultPollDelayMs(2_000, () => 0.5)).toBe(2_500);
    expect(defaultPollDelayMs(2_000, () => 0.999_999)).toBe(3_000);
  });

  it("doubles the backoff ceiling per attempt up to the maximum, with equal jitter", () => {
    const options = { initialBackoffMs: 1_000, maxBackoffMs: 10_000 };
    const low = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(attempt, options, () => 0));
    const high = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(attempt, options, () => 1));
    expect(low).toEqual([500, 1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(high).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
  });

  it("treats 429 and 5xx as transient, everything else as final", () => {
    expect([429, 500, 503, 599].every(isTransientStatus)).toBe(true);
    expect([200, 202, 400, 401, 404, 412].some(isTransientStatus)).toBe(false);
  });
});

describe("registerRequestBody", () => {
  it("sends only the registration id without CSR or payload", () => {
    expect(registerRequestBody({ registrationId: "dev-001" })).toBe('{"registrationId":"dev-001"}');
  });

  it("sends registrationId, payload and csr in that order", () => {
    expect(registerRequestBody({ registrationId: "dev-001", payload: { site: "a" }, csr: "MIIB" })).toBe(
      '{"registrationId":"dev-001","payload":{"site":"a"},"csr":"MIIB"}',
    );
  });

  it("puts the CSR as base64 DER without armour or newlines, and openssl reads CN = registration id", async () => {
    await using dir = await tempDir();
    const keyPath = join(dir.path, "key.pem");
    const csrPath = join(dir.path, "csr.pem");
    await openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", keyPath]);
    await openssl(["req", "-new", "-key", keyPath, "-subj", "/CN=dev-001", "-out", csrPath]);
    const { stdout: pem } = await openssl(["req", "-in", csrPath]);
    const wire = csrWireForm(pem);
    const body = JSON.parse(registerRequestBody({ registrationId: "dev-001", csr: wire })) as { csr: string };
    expect(body.csr).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(body.csr).not.toContain("BEGIN");
    const derPath = join(dir.path, "csr.der");
    await writeFile(derPath, Buffer.from(body.csr, "base64"));
    const { stdout } = await openssl([
      "req",
      "-inform",
      "DER",
      "-in",
      derPath,
      "-noout",
      "-subject",
      "-verify",
    ]);
    expect(stdout).toMatch(/subject=CN\s*=\s*dev-001/);
  });

  it("rejects a CSR that is neither PEM nor base64", () => {
    expect(() => csrWireForm("not a csr!")).toThrow(TypeError);
    expect(() => csrWireForm("")).toThrow(TypeError);
  });
});

describe("answer bodies", () => {
  it("reads a 202 assigning body", () => {
    expect(parseOperationStatus({ operationId: "4.a.b", status: "assigning" })).toEqual({
      operationId: "4.a.b",
      status: "assigning",
      registrationState: undefined,
    });
  });

  it("reads a 200 assigned body with the issued chain", () => {
    const status = parseOperationStatus({
      operationId: "4.a.b",
      status: "assigned",
      registrationState: {
        registrationId: "dev-001",
        createdDateTimeUtc: "2020-04-10T03:11:13.0276997Z",
        assignedHub: "hub.azure-devices.net",
        deviceId: "dev-001",
        status: "assigned",
        substatus: "initialAssignment",
        lastUpdatedDateTimeUtc: "2020-04-10T03:11:13.2096201Z",
        etag: "IjYxMDA4ZDQ2LTAwMDAtMDEwMC0wMDAwLTVlOGZlM2QxMDAwMCI=",
        payload: { a: 1 },
        issuedCertificateChain: ["AAA", "BBB", "CCC"],
      },
    });
    expect(status).toMatchObject({
      status: "assigned",
      registrationState: {
        deviceId: "dev-001",
        payload: { a: 1 },
        issuedCertificateChain: ["AAA", "BBB", "CCC"],
      },
    });
  });

  it("names what is wrong with an unreadable body", () => {
    expect(parseOperationStatus("text")).toMatch(/not a JSON object/);
    expect(parseOperationStatus({ status: "weird" })).toMatch(/"weird" is not one of/);
    expect(parseOperationStatus({ status: "assigned", registrationState: { deviceId: 7 } })).toMatch(
      /deviceId is not a string/,
    );
    expect(
      parseOperationStatus({ status: "assigned", registrationState: { issuedCertificateChain: [1] } }),
    ).toMatch(/issuedCertificateChain/);
  });

  it("reads error details and decodes payloads", () => {
    expect(
      parseErrorDetails({
        errorCode: 401002,
        trackingId: "t-1",
        message: "Invalid certificate.",
        timestampUtc: "2024-01-01T00:00:00Z",
        info: { a: "b", n: 1 },
      }),
    ).toEqual({
      errorCode: 401002,
      trackingId: "t-1",
      message: "Invalid certificate.",
      timestampUtc: "2024-01-01T00:00:00Z",
      info: { a: "b", n: "1" },
    });
    expect(parseErrorDetails("nope")).toEqual({});
    expect(decodePayload(Buffer.from('{"a":1}'))).toEqual({ a: 1 });
    expect(decodePayload(Buffer.from(" "))).toBeUndefined();
    expect(decodePayload(Buffer.from("oops"))).toBe("oops");
  });
});
