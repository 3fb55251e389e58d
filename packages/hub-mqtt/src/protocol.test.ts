import { errorFromAnotherCopy } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { HubError, isHubError } from "./errors.ts";
import {
  backoffDelayMs,
  certificatesFromAnswer,
  hubUsername,
  issueCertificateBody,
  parseC2dTopic,
  parseDesiredTopic,
  parseErrorDetails,
  parseMethodTopic,
  parsePropertyBag,
  parseResponseTopic,
  renewalRetryDelayMs,
  telemetryTopic,
} from "./protocol.ts";

describe("hubUsername", () => {
  it("is {hub}/{device}/?api-version=…&DeviceClientType={urlencoded ua}", () => {
    expect(hubUsername("h.azure-devices.net", "d1", "2025-08-01-preview", "my agent/1.0")).toBe(
      "h.azure-devices.net/d1/?api-version=2025-08-01-preview&DeviceClientType=my%20agent%2F1.0",
    );
    expect(hubUsername("h", "d1", "2021-04-12")).toBe("h/d1/?api-version=2021-04-12");
  });
});

describe("telemetryTopic", () => {
  it("puts system properties first as %24.x, then the application properties, all URL-encoded", () => {
    expect(
      telemetryTopic(
        "d1",
        {
          contentEncoding: "utf-8",
          messageId: "m 1",
          contentType: "application/json",
          expiryTimeUtc: "2030-01-01T00:00:00Z",
        },
        { "a b": "c/d", x: "" },
      ),
    ).toBe(
      "devices/d1/messages/events/%24.mid=m%201&%24.ct=application%2Fjson&%24.ce=utf-8&%24.exp=2030-01-01T00%3A00%3A00Z&a%20b=c%2Fd&x=",
    );
    expect(telemetryTopic("d1")).toBe("devices/d1/messages/events/");
  });
});

describe("property bags", () => {
  it("parses k=v pairs, keys without a value, and escapes", () => {
    expect(parsePropertyBag("%24.mid=1&flag&empty=&a%20b=c%26d")).toEqual({
      "$.mid": "1",
      flag: "",
      empty: "",
      "a b": "c&d",
    });
    expect(parsePropertyBag("")).toEqual({});
    expect(() => parsePropertyBag("bad=%E0%A4%A")).toThrow(URIError);
  });

  it("splits a C2D bag into application and system properties, and ignores other devices' topics", () => {
    expect(
      parseC2dTopic("d1", "devices/d1/messages/devicebound/%24.mid=7&iothub-ack=full&colour=red"),
    ).toEqual({
      properties: { colour: "red" },
      system: { "$.mid": "7", "iothub-ack": "full" },
    });
    expect(parseC2dTopic("d1", "devices/d2/messages/devicebound/x=1")).toBeUndefined();
  });
});

describe("parseResponseTopic", () => {
  it("reads twin answers with $rid, $version and retry-after", () => {
    expect(parseResponseTopic("$iothub/twin/res/204/?$rid=r1&$version=5")).toEqual({
      kind: "twin",
      statusCode: 204,
      rid: "r1",
      version: 5,
    });
    expect(parseResponseTopic("$iothub/twin/res/429/?$rid=r2&retry-after=3")).toMatchObject({
      statusCode: 429,
      retryAfterSeconds: 3,
    });
  });

  it("reads credentials answers in both the ?$rid= and the /{rid} forms", () => {
    expect(parseResponseTopic("$iothub/credentials/res/202/?$rid=abc-1&$version=1")).toEqual({
      kind: "credentials",
      statusCode: 202,
      rid: "abc-1",
      version: 1,
    });
    expect(parseResponseTopic("$iothub/credentials/res/200/abc-1")).toEqual({
      kind: "credentials",
      statusCode: 200,
      rid: "abc-1",
    });
  });

  it("returns undefined for foreign topics, missing $rid or a non-numeric status", () => {
    expect(parseResponseTopic("$iothub/twin/res/200/")).toBeUndefined();
    expect(parseResponseTopic("$iothub/twin/res/2x0/?$rid=1")).toBeUndefined();
    expect(parseResponseTopic("$dps/registrations/res/200/?$rid=1")).toBeUndefined();
  });
});

describe("method and desired topics", () => {
  it("parses a method request and a desired patch", () => {
    expect(parseMethodTopic("$iothub/methods/POST/reboot/?$rid=9")).toEqual({ name: "reboot", rid: "9" });
    expect(parseMethodTopic("$iothub/methods/POST/reboot/")).toBeUndefined();
    expect(parseDesiredTopic("$iothub/twin/PATCH/properties/desired/?$version=4")).toEqual({ version: 4 });
    expect(parseDesiredTopic("$iothub/twin/res/200/?$rid=1")).toBeUndefined();
  });
});

describe("renewal wire forms", () => {
  it("sends only id, csr and replace", () => {
    expect(JSON.parse(issueCertificateBody("d1", "MII"))).toEqual({ id: "d1", csr: "MII" });
    expect(JSON.parse(issueCertificateBody("d1", "MII", "*"))).toEqual({
      id: "d1",
      csr: "MII",
      replace: "*",
    });
  });

  it("reads the chain from {certificates}, a bare array, or PEM entries", () => {
    expect(certificatesFromAnswer({ correlationId: "c", certificates: ["QQ==", "Qg=="] })).toEqual({
      chain: ["QQ==", "Qg=="],
      correlationId: "c",
    });
    expect(certificatesFromAnswer(["QQ=="])).toEqual({ chain: ["QQ=="] });
    expect(
      certificatesFromAnswer({
        certificates: ["-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n"],
      }),
    ).toEqual({
      chain: ["QQ=="],
    });
    expect(certificatesFromAnswer({ certificates: [] })).toMatch(/no `certificates`/);
    expect(certificatesFromAnswer({ certificates: [1] })).toMatch(/other than non-empty strings/);
  });

  it("reads error bodies, also with a string errorCode", () => {
    expect(
      parseErrorDetails({ errorCode: "409004", message: "busy", trackingId: "t", info: { requestId: "1" } }),
    ).toEqual({ errorCode: 409004, message: "busy", trackingId: "t", info: { requestId: "1" } });
    expect(parseErrorDetails("nope")).toEqual({});
  });
});

describe("retry maths", () => {
  it("backs off exponentially with jitter in the upper half of the ceiling, capped", () => {
    const settings = { initialBackoffMs: 1_000, maxBackoffMs: 8_000 };
    expect(backoffDelayMs(0, settings, () => 0)).toBe(500);
    expect(backoffDelayMs(0, settings, () => 0.999_999)).toBe(1_000);
    expect(backoffDelayMs(2, settings, () => 0)).toBe(2_000);
    expect(backoffDelayMs(10, settings, () => 0.999_999)).toBe(8_000);
    expect(backoffDelayMs(10_000, settings, () => 0)).toBe(4_000);
  });

  it("retries renewals on 429 from 1 s, 503 from 5 s, 500 from 5 min; retry-after wins; others are final", () => {
    const settings = { maxBackoffMs: 60_000 };
    expect(renewalRetryDelayMs(429, 0, undefined, settings, () => 0)).toBe(1_000);
    expect(renewalRetryDelayMs(429, 1, undefined, settings, () => 0)).toBe(2_000);
    expect(renewalRetryDelayMs(429, 0, undefined, settings, () => 1)).toBe(1_200);
    expect(renewalRetryDelayMs(503, 0, undefined, settings, () => 0)).toBe(5_000);
    expect(renewalRetryDelayMs(503, 9, undefined, settings, () => 0)).toBe(60_000);
    expect(renewalRetryDelayMs(500, 0, undefined, settings, () => 0)).toBe(300_000);
    expect(renewalRetryDelayMs(503, 0, 2.5, settings, () => 0)).toBe(2_500);
    for (const status of [400, 401, 404, 409, 412, 502]) {
      expect(renewalRetryDelayMs(status, 0, 1, settings, () => 0)).toBeUndefined();
    }
  });
});

describe("HubError", () => {
  it("carries protocol fields and is recognised across copies", () => {
    const error = new HubError("HUB_REQUEST_REJECTED", "no", {
      statusCode: 409,
      errorCode: 409004,
      requestId: "r",
    });
    expect(error).toMatchObject({
      name: "HubError",
      code: "HUB_REQUEST_REJECTED",
      statusCode: 409,
      errorCode: 409004,
    });
    expect(isHubError(error)).toBe(true);
    expect(isHubError(errorFromAnotherCopy(error))).toBe(true);
    expect(isHubError(Object.assign(new Error("x"), { name: "HubError", code: "HUB_CLOSED" }))).toBe(false);
  });
});
