import { describe, expect, it } from "vitest";
import { DpsError, errorFromAnswer, isDpsError } from "./errors.ts";
import { classifyConnectError, TransientConnectionError } from "./session.ts";

const where = { protocol: "mqtts", host: "dps.example.net", port: 8883 } as const;
const withCode = (message: string, code: string | number): Error =>
  Object.assign(new Error(message), { code });

describe("errorFromAnswer", () => {
  it("turns a 401 into DPS_UNAUTHORIZED with the protocol data on fields and the likely causes", () => {
    const error = errorFromAnswer(
      401,
      { errorCode: 401000, trackingId: "t-1", message: "Unauthorized", timestampUtc: "2026-01-01T00:00:00Z" },
      { registrationId: "dev-1" },
    );
    expect(error).toMatchObject({
      name: "DpsError",
      code: "DPS_UNAUTHORIZED",
      statusCode: 401,
      errorCode: 401000,
      trackingId: "t-1",
      timestampUtc: "2026-01-01T00:00:00Z",
    });
    expect(error.message).toMatch(/key/);
    expect(error.message).toMatch(/CA/);
    expect(error.message).toMatch(/registration id/);
    expect(isDpsError(error)).toBe(true);
  });

  it("turns other final answers into DPS_REQUEST_REJECTED with a hint", () => {
    const error = errorFromAnswer(
      400,
      { errorCode: 400012, message: "Deserialization error" },
      { registrationId: "d" },
    );
    expect(error).toMatchObject({ code: "DPS_REQUEST_REJECTED", statusCode: 400, errorCode: 400012 });
    expect(error.message).toContain("base64 DER");
  });
});

describe("classifyConnectError", () => {
  it("treats CONNACK 'not authorized' and 'bad username or password' as final DPS_UNAUTHORIZED", () => {
    for (const code of [4, 5, 135]) {
      expect(classifyConnectError(withCode("Connection refused", code), where)).toMatchObject({
        code: "DPS_UNAUTHORIZED",
      });
    }
  });

  it("treats an untrusted server certificate as final, pointing at the ca option", () => {
    const error = classifyConnectError(
      withCode("self-signed certificate in certificate chain", "SELF_SIGNED_CERT_IN_CHAIN"),
      where,
    );
    expect(error).toBeInstanceOf(DpsError);
    expect(error).toMatchObject({ code: "DPS_CONNECTION_FAILED" });
    expect(error.message).toContain("ca");
    expect(
      classifyConnectError(withCode("Hostname/IP does not match", "ERR_TLS_CERT_ALTNAME_INVALID"), where),
    ).toMatchObject({
      code: "DPS_CONNECTION_FAILED",
    });
  });

  it("treats an unknown host as final", () => {
    expect(classifyConnectError(withCode("getaddrinfo ENOTFOUND x", "ENOTFOUND"), where)).toMatchObject({
      code: "DPS_CONNECTION_FAILED",
      message: expect.stringContaining("dps.example.net"),
    });
  });

  it("retries refused, reset and timed-out connections and 'server unavailable'", () => {
    for (const error of [
      withCode("connect ECONNREFUSED", "ECONNREFUSED"),
      withCode("read ECONNRESET", "ECONNRESET"),
      new Error("connack timeout"),
      withCode("Connection refused: Server unavailable", 3),
    ]) {
      expect(classifyConnectError(error, where)).toBeInstanceOf(TransientConnectionError);
    }
  });
});
