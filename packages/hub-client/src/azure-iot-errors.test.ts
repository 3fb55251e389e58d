import { describe, expect, it } from "vitest";
import { classifyAzureIotError } from "./azure-iot-errors.ts";

const device = { hostName: "hub.example", deviceId: "d1" };
const named = (name: string, message = name, extra: Record<string, unknown> = {}): Error =>
  Object.assign(new Error(message), { name }, extra);

describe("classifyAzureIotError", () => {
  it("prefers a code anywhere in the chain over the SDK's class (the SDK wraps TLS failures as UnauthorizedError)", () => {
    const tls = Object.assign(new Error("unable to verify the first certificate"), {
      code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    });
    const error = classifyAzureIotError(
      named("UnauthorizedError", "Not authorized", { transportError: tls }),
      device,
      "connecting",
    );
    expect(error).toMatchObject({
      code: "HUB_TLS_UNTRUSTED",
      reason: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      cause: expect.any(Error),
    });
    expect(error.message).toContain('while connecting (device "d1", hub hub.example)');
  });

  it.each([
    ["ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE", "HUB_UNAUTHORIZED"],
    ["ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "HUB_UNAUTHORIZED"],
    ["CERT_HAS_EXPIRED", "HUB_TLS_UNTRUSTED"],
    ["ECONNRESET", "HUB_UNREACHABLE"],
    ["ETIMEDOUT", "HUB_TIMEOUT"],
    [4, "HUB_UNAUTHORIZED"],
    [3, "HUB_UNREACHABLE"],
  ])("maps the code %s to %s", (code, expected) => {
    expect(classifyAzureIotError(Object.assign(new Error("x"), { code }), device, "sending").code).toBe(
      expected,
    );
  });

  it.each([
    ["ThrottlingError", "HUB_THROTTLED"],
    ["IotHubQuotaExceededError", "HUB_THROTTLED"],
    ["NotConnectedError", "HUB_UNREACHABLE"],
    ["TimeoutError", "HUB_TIMEOUT"],
    ["MessageTooLargeError", "HUB_REJECTED"],
    ["DeviceNotFoundError", "HUB_UNAUTHORIZED"],
  ])("maps the SDK's %s to %s", (name, expected) => {
    expect(classifyAzureIotError(named(name), device, "sending")).toMatchObject({
      code: expected,
      reason: name,
    });
  });

  it("follows a Disconnected result's transportObj, survives a self-referencing chain, and falls back", () => {
    const looped = named("NotConnectedError");
    Object.assign(looped, { transportError: looped });
    expect(classifyAzureIotError({ transportObj: looped }, device, "connected").code).toBe("HUB_UNREACHABLE");
    expect(classifyAzureIotError(new Error("odd"), device, "sending").code).toBe("HUB_FAILED");
    expect(classifyAzureIotError(undefined, device, "connected", "HUB_UNREACHABLE").code).toBe(
      "HUB_UNREACHABLE",
    );
  });
});
