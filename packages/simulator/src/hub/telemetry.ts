// IoT Hub device-to-cloud messages: the property bag of the topic, and the view the admin API shows.

import { azureTimestamp } from "../azure-time.ts";
import type { StoredTelemetry } from "../state/model.ts";
import type { HubAuthMethod } from "./auth.ts";

/** A telemetry message as the admin API, the CLI and the live stream show it. */
export interface TelemetryView {
  id: number;
  deviceId: string;
  hub: string;
  enqueuedTime: string;
  systemProperties: Record<string, string>;
  properties: Record<string, string>;
  /** UTF-8 text, or base64 when the body is not valid UTF-8 (`bodyEncoding`). */
  body: string;
  bodyEncoding: "utf8" | "base64";
  size: number;
}

const SYSTEM_PROPERTIES: Record<string, string> = {
  "$.mid": "messageId",
  "$.cid": "correlationId",
  "$.uid": "userId",
  "$.to": "to",
  "$.ct": "contentType",
  "$.ce": "contentEncoding",
  "$.exp": "expiryTimeUtc",
  "$.ctime": "creationTimeUtc",
  "$.ifid": "interfaceId",
  "$.sub": "subject",
  "$.on": "outputName",
  "$.mdid": "moduleId",
};

export function decode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", "%20"));
  } catch {
    return text;
  }
}

/** Splits a URL-encoded property bag (`k=v&k2=v2`, `$` possibly sent as `%24`). */
export function parsePropertyBag(bag: string): {
  system: Record<string, string>;
  application: Record<string, string>;
} {
  const system: Record<string, string> = {};
  const application: Record<string, string> = {};
  for (const pair of bag.split("&")) {
    if (pair === "") continue;
    const at = pair.indexOf("=");
    const key = decode(at < 0 ? pair : pair.slice(0, at));
    const value = at < 0 ? "" : decode(pair.slice(at + 1));
    if (key === "") continue;
    if (key.startsWith("$.")) system[SYSTEM_PROPERTIES[key] ?? key] = value;
    else application[key] = value;
  }
  return { system, application };
}

/**
 * The `iothub-connection-auth-method` system property as IoT Hub stamps it: a JSON object in a string, e.g.
 * `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`; a CA-signed certificate is
 * `"type":"x509Certificate","issuer":"external"` (both seen on Azure). Self-signed certificates are registered with
 * the hub, hence `issuer` `iothub` (inferred).
 */
export function connectionAuthMethod(method: HubAuthMethod): string {
  return JSON.stringify({
    scope: "device",
    type: method === "sas" ? "sas" : "x509Certificate",
    issuer: method === "x509CA" ? "external" : "iothub",
    acceptingIpFilterRule: null,
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function telemetryView(message: StoredTelemetry): TelemetryView {
  let body: string;
  let bodyEncoding: TelemetryView["bodyEncoding"] = "utf8";
  try {
    body = utf8.decode(message.body);
  } catch {
    body = message.body.toString("base64");
    bodyEncoding = "base64";
  }
  const view: TelemetryView = {
    id: message.id,
    deviceId: message.deviceId,
    hub: message.hub,
    enqueuedTime: azureTimestamp(message.enqueuedAt),
    systemProperties: message.systemProperties,
    properties: message.properties,
    body,
    bodyEncoding,
    size: message.body.length,
  };
  return view;
}
