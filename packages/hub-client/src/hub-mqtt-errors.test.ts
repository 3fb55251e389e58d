import { HubError } from "@skittlesorter/hub-mqtt";
import { describe, expect, it } from "vitest";
import { HubClientError } from "./errors.ts";
import { classifyHubMqttError } from "./hub-mqtt-errors.ts";

const device = { hostName: "skittle-hub.azure-devices.net", deviceId: "sorter-001" };
const nodeError = (code: string): Error => Object.assign(new Error(`socket said ${code}`), { code });
const connack = (returnCode: number): Error =>
  Object.assign(new Error("Connection refused"), { code: returnCode });

describe("classifyHubMqttError", () => {
  it.each([
    ["HUB_INVALID_OPTIONS", {}, "HUB_INVALID_OPTION"],
    ["HUB_CLOSED", {}, "HUB_CLOSED"],
    ["HUB_TIMEOUT", {}, "HUB_TIMEOUT"],
    ["HUB_PROTOCOL_ERROR", {}, "HUB_FAILED"],
    ["HUB_REQUEST_REJECTED", { statusCode: 400 }, "HUB_REJECTED"],
    ["HUB_REQUEST_REJECTED", { statusCode: 429 }, "HUB_THROTTLED"],
    ["HUB_UNAUTHORIZED", { statusCode: 401 }, "HUB_UNAUTHORIZED"],
    ["HUB_RENEWAL_IN_PROGRESS", {}, "HUB_REJECTED"],
    ["HUB_RENEWAL_UNSUPPORTED", {}, "HUB_REJECTED"],
    ["HUB_ISSUED_CHAIN_INVALID", {}, "HUB_FAILED"],
  ] as const)("maps %s %o to %s with hub-mqtt's code as reason", (code, details, expected) => {
    const error = new HubError(code, `hub-mqtt says ${code}`, details);
    const mapped = classifyHubMqttError(error, device, "testing");
    expect(mapped).toBeInstanceOf(HubClientError);
    expect(mapped).toMatchObject({ code: expected, reason: code, ...device, cause: error });
    expect(mapped.message).toContain(`hub-mqtt says ${code}`);
  });

  it("keeps the hub's statusCode, errorCode and trackingId", () => {
    const error = new HubError("HUB_REQUEST_REJECTED", "conflict", {
      statusCode: 409,
      errorCode: 409004,
      trackingId: "t-1",
    });
    expect(classifyHubMqttError(error, device, "renewing")).toMatchObject({
      code: "HUB_REJECTED",
      statusCode: 409,
      errorCode: 409004,
      trackingId: "t-1",
    });
  });

  it.each([
    [nodeError("SELF_SIGNED_CERT_IN_CHAIN"), "HUB_TLS_UNTRUSTED", "SELF_SIGNED_CERT_IN_CHAIN"],
    [nodeError("ECONNREFUSED"), "HUB_UNREACHABLE", "ECONNREFUSED"],
    [
      nodeError("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"),
      "HUB_UNAUTHORIZED",
      "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
    ],
    [connack(3), "HUB_UNREACHABLE", "CONNACK 3"],
  ] as const)(
    "classifies a failed connection by the transport error underneath (%s)",
    (cause, expected, reason) => {
      const error = new HubError("HUB_CONNECTION_FAILED", "Connecting failed", { cause });
      expect(classifyHubMqttError(error, device, "connecting", "HUB_UNREACHABLE")).toMatchObject({
        code: expected,
        reason,
      });
    },
  );

  it("classifies a refused connection (CONNACK 5) as HUB_UNAUTHORIZED, and a bare connection failure by the fallback", () => {
    const refused = new HubError("HUB_UNAUTHORIZED", "refused", { cause: connack(5) });
    expect(classifyHubMqttError(refused, device, "connecting")).toMatchObject({
      code: "HUB_UNAUTHORIZED",
      reason: "CONNACK 5",
    });
    const bare = new HubError("HUB_CONNECTION_FAILED", "No connection within 10 ms.");
    expect(classifyHubMqttError(bare, device, "connecting", "HUB_UNREACHABLE")).toMatchObject({
      code: "HUB_UNREACHABLE",
      reason: "HUB_CONNECTION_FAILED",
    });
  });

  it("passes a HubClientError through, and classifies other errors like the official adapter does", () => {
    const own = new HubClientError("HUB_TIMEOUT", "late");
    expect(classifyHubMqttError(own, device, "sending")).toBe(own);
    expect(classifyHubMqttError(nodeError("ECONNRESET"), device, "sending")).toMatchObject({
      code: "HUB_UNREACHABLE",
      reason: "ECONNRESET",
    });
    expect(classifyHubMqttError(new Error("odd"), device, "sending")).toMatchObject({ code: "HUB_FAILED" });
  });
});
