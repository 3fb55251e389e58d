import { describe, expect, it } from "vitest";
import { asciiJson } from "./mqtt.ts";
import { parseRequestTopic, parseUserName, responseTopic } from "./protocol.ts";

describe("parseRequestTopic", () => {
  it("reads register and status requests, keeping $rid exactly as sent", () => {
    expect(parseRequestTopic("$dps/registrations/PUT/iotdps-register/?$rid=1")).toEqual({
      kind: "register",
      rid: "1",
    });
    expect(parseRequestTopic("$dps/registrations/PUT/iotdps-register/?$rid=a%20b~c")).toEqual({
      kind: "register",
      rid: "a%20b~c",
    });
    expect(
      parseRequestTopic("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=7&operationId=4.abc.d%2De"),
    ).toEqual({ kind: "status", rid: "7", operationId: "4.abc.d-e" });
    expect(
      parseRequestTopic("$dps/registrations/GET/iotdps-get-operationstatus/?operationId=x&$rid=9"),
    ).toEqual({
      kind: "status",
      rid: "9",
      operationId: "x",
    });
  });

  it("reports unknown topics and a missing $rid", () => {
    expect(parseRequestTopic("$dps/registrations/POST/other/?$rid=3")).toEqual({ kind: "unknown", rid: "3" });
    expect(parseRequestTopic("devices/x/messages/events/")).toEqual({ kind: "unknown", rid: undefined });
    expect(parseRequestTopic("$dps/registrations/PUT/iotdps-register/")).toEqual({
      kind: "unknown",
      rid: undefined,
    });
    expect(parseRequestTopic("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1")).toEqual({
      kind: "status",
      rid: "1",
      operationId: undefined,
    });
  });
});

describe("responseTopic", () => {
  it("puts $rid first and retry-after after it", () => {
    expect(responseTopic(200, "abc")).toBe("$dps/registrations/res/200/?$rid=abc");
    expect(responseTopic(202, "1", 3)).toBe("$dps/registrations/res/202/?$rid=1&retry-after=3");
  });
});

describe("parseUserName", () => {
  it("parses the DPS user name with and without ClientVersion", () => {
    expect(
      parseUserName("0ne00000A0A/registrations/dev-1/api-version=2019-03-31&ClientVersion=azure-iot%2F1.0"),
    ).toEqual({
      idScope: "0ne00000A0A",
      registrationId: "dev-1",
      apiVersion: "2019-03-31",
      clientVersion: "azure-iot/1.0",
    });
    expect(parseUserName("scope/registrations/dev-1/?api-version=2025-07-01-preview")?.apiVersion).toBe(
      "2025-07-01-preview",
    );
    expect(parseUserName("scope/registrations/dev-1/")?.apiVersion).toBeUndefined();
  });

  it("refuses other shapes", () => {
    expect(parseUserName(undefined)).toBeUndefined();
    expect(parseUserName("hub.azure-devices.net/dev-1/?api-version=2021-04-12")).toBeUndefined();
    expect(parseUserName("scope/registrations//api-version=1")).toBeUndefined();
  });
});

describe("asciiJson", () => {
  it("escapes non-ASCII so an ASCII decoder reads the same JSON", () => {
    const text = asciiJson({ message: "use … → ok" });
    expect(/^[\x20-\x7e]*$/.test(text)).toBe(true);
    expect(JSON.parse(Buffer.from(text).toString("ascii"))).toEqual({ message: "use … → ok" });
  });
});
