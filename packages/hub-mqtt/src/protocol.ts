/**
 * Pure IoT Hub MQTT protocol pieces: username, topics, property bags, answer topics, request bodies and the
 * retry maths. No I/O here, so every rule is unit-tested on its own.
 */

/** The api-version of the classic device MQTT surface (what the official SDKs send). */
export const HUB_API_VERSION = "2021-04-12";
/** The api-version whose connections may use `$iothub/credentials` (certificate renewal through the hub). */
export const HUB_RENEWAL_API_VERSION = "2025-08-01-preview";
/** Path of MQTT over WebSocket. */
export const HUB_WEBSOCKET_PATH = "/$iothub/websocket";

export const TWIN_RESPONSE_FILTER = "$iothub/twin/res/#";
export const TWIN_DESIRED_FILTER = "$iothub/twin/PATCH/properties/desired/#";
export const METHODS_FILTER = "$iothub/methods/POST/#";
export const CREDENTIALS_RESPONSE_FILTER = "$iothub/credentials/res/#";

/** `{hub}/{deviceId}/?api-version={ver}&DeviceClientType={ua}` */
export function hubUsername(
  hostName: string,
  deviceId: string,
  apiVersion: string,
  userAgent?: string,
): string {
  const base = `${hostName}/${deviceId}/?api-version=${apiVersion}`;
  return userAgent === undefined || userAgent === ""
    ? base
    : `${base}&DeviceClientType=${encodeURIComponent(userAgent)}`;
}

/** The SAS resource of a device: `{hub}/devices/{deviceId}`. */
export function deviceResourceUri(hostName: string, deviceId: string): string {
  return `${hostName}/devices/${deviceId}`;
}

export const c2dFilter = (deviceId: string): string => `devices/${deviceId}/messages/devicebound/#`;

/** System properties of a device-to-cloud message, with their wire names. */
export interface TelemetrySystemProperties {
  /** `$.mid` */
  messageId?: string | undefined;
  /** `$.cid` */
  correlationId?: string | undefined;
  /** `$.uid` */
  userId?: string | undefined;
  /** `$.ct`, e.g. `application/json` */
  contentType?: string | undefined;
  /** `$.ce`, e.g. `utf-8` */
  contentEncoding?: string | undefined;
  /** `$.exp`, ISO 8601 */
  expiryTimeUtc?: string | undefined;
  /** `$.ifid`, the interface id (IoT Plug and Play) */
  interfaceId?: string | undefined;
}

const SYSTEM_WIRE_NAMES: ReadonlyArray<[keyof TelemetrySystemProperties, string]> = [
  ["messageId", "$.mid"],
  ["correlationId", "$.cid"],
  ["userId", "$.uid"],
  ["contentType", "$.ct"],
  ["contentEncoding", "$.ce"],
  ["expiryTimeUtc", "$.exp"],
  ["interfaceId", "$.ifid"],
];

/**
 * `devices/{id}/messages/events/{bag}`: system properties first, `$` sent as `%24` like the official Node
 * client, then the application properties, every key and value URL-encoded.
 */
export function telemetryTopic(
  deviceId: string,
  system: TelemetrySystemProperties = {},
  properties: Readonly<Record<string, string>> = {},
): string {
  const parts: string[] = [];
  for (const [field, wire] of SYSTEM_WIRE_NAMES) {
    const value = system[field];
    if (value !== undefined) parts.push(`${encodeURIComponent(wire)}=${encodeURIComponent(value)}`);
  }
  for (const [key, value] of Object.entries(properties)) {
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  }
  return `devices/${deviceId}/messages/events/${parts.join("&")}`;
}

/**
 * Parses a URL-encoded property bag (`k=v&k2&k3=`). A key without `=` has the value `""`. Throws a TypeError
 * on a malformed escape.
 */
export function parsePropertyBag(bag: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (bag === "") return out;
  for (const part of bag.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    out[key] = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1));
  }
  return out;
}

/** Properties of a cloud-to-device message: application properties and the system ones (`$.…`, `iothub-…`). */
export interface C2dProperties {
  properties: Record<string, string>;
  system: Record<string, string>;
}

/** Splits the bag of `devices/{id}/messages/devicebound/{bag}`; `undefined` for another topic. */
export function parseC2dTopic(deviceId: string, topic: string): C2dProperties | undefined {
  const prefix = `devices/${deviceId}/messages/devicebound/`;
  if (!topic.startsWith(prefix)) return undefined;
  const all = parsePropertyBag(topic.slice(prefix.length));
  const properties: Record<string, string> = {};
  const system: Record<string, string> = {};
  for (const [key, value] of Object.entries(all)) {
    if (key.startsWith("$.") || key.startsWith("iothub-")) system[key] = value;
    else properties[key] = value;
  }
  return { properties, system };
}

export const twinGetTopic = (rid: string): string => `$iothub/twin/GET/?$rid=${encodeURIComponent(rid)}`;
export const twinPatchTopic = (rid: string): string =>
  `$iothub/twin/PATCH/properties/reported/?$rid=${encodeURIComponent(rid)}`;
export const methodResponseTopic = (status: number, rid: string): string =>
  `$iothub/methods/res/${status}/?$rid=${encodeURIComponent(rid)}`;
export const issueCertificateTopic = (rid: string): string =>
  `$iothub/credentials/POST/issueCertificate/?$rid=${encodeURIComponent(rid)}`;

/** An answer on `$iothub/{twin|credentials}/res/{status}/…`. */
export interface ResponseTopic {
  kind: "twin" | "credentials";
  statusCode: number;
  rid: string;
  /** `$version` (twin answers). */
  version?: number;
  /** `retry-after` in seconds, when sent. */
  retryAfterSeconds?: number;
}

/**
 * Parses `$iothub/twin/res/{status}/?$rid={rid}[&$version=n]` and the credentials answers in both shapes
 * seen in Microsoft's sources: `…/res/{status}/?$rid={rid}` and `…/res/{status}/{rid}`.
 */
export function parseResponseTopic(topic: string): ResponseTopic | undefined {
  const match = /^\$iothub\/(twin|credentials)\/res\/(\d{3})\/(.*)$/.exec(topic);
  if (match === null) return undefined;
  const kind = match[1] as "twin" | "credentials";
  const statusCode = Number(match[2]);
  const tail = match[3] ?? "";
  let rid: string | null;
  let query: URLSearchParams;
  if (tail.startsWith("?")) {
    query = new URLSearchParams(tail.slice(1).replaceAll("+", "%2B"));
    rid = query.get("$rid");
  } else {
    const question = tail.indexOf("?");
    rid = decodeURIComponent(question < 0 ? tail : tail.slice(0, question));
    query = new URLSearchParams(question < 0 ? "" : tail.slice(question + 1));
  }
  if (rid === null || rid === "") return undefined;
  const parsed: ResponseTopic = { kind, statusCode, rid };
  const version = query.get("$version");
  if (version !== null && /^\d+$/.test(version)) parsed.version = Number(version);
  const retryAfter = parseRetryAfter(query.get("retry-after"));
  if (retryAfter !== undefined) parsed.retryAfterSeconds = retryAfter;
  return parsed;
}

/** A direct-method request: `$iothub/methods/POST/{name}/?$rid={rid}`. */
export function parseMethodTopic(topic: string): { name: string; rid: string } | undefined {
  const match = /^\$iothub\/methods\/POST\/([^/]+)\/\?(.*)$/.exec(topic);
  if (match === null) return undefined;
  const rid = new URLSearchParams(match[2]).get("$rid");
  if (rid === null || rid === "") return undefined;
  return { name: decodeURIComponent(match[1] as string), rid };
}

/** `$iothub/twin/PATCH/properties/desired/?$version={n}` → n (undefined when absent). */
export function parseDesiredTopic(topic: string): { version: number | undefined } | undefined {
  const prefix = "$iothub/twin/PATCH/properties/desired/";
  if (!topic.startsWith(prefix)) return undefined;
  const tail = topic.slice(prefix.length);
  const version = new URLSearchParams(tail.startsWith("?") ? tail.slice(1) : tail).get("$version");
  return { version: version !== null && /^\d+$/.test(version) ? Number(version) : undefined };
}

/** A `retry-after` value in seconds (integer or decimal, ≥ 0), or `undefined` when absent or malformed. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^\d+(\.\d+)?$/.test(trimmed)) return undefined;
  return Number(trimmed);
}

/** The error body IoT Hub sends: `{errorCode, message, trackingId, timestampUtc, info}`. */
export interface WireErrorDetails {
  errorCode?: number | undefined;
  message?: string | undefined;
  trackingId?: string | undefined;
  timestampUtc?: string | undefined;
  info?: Record<string, unknown> | undefined;
}

export function parseErrorDetails(body: unknown): WireErrorDetails {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return {};
  const record = body as Record<string, unknown>;
  const out: WireErrorDetails = {};
  const code = record.errorCode;
  if (typeof code === "number" && Number.isInteger(code)) out.errorCode = code;
  else if (typeof code === "string" && /^\d+$/.test(code)) out.errorCode = Number(code);
  if (typeof record.message === "string") out.message = record.message;
  else if (typeof record.Message === "string") out.message = record.Message;
  if (typeof record.trackingId === "string") out.trackingId = record.trackingId;
  if (typeof record.timestampUtc === "string") out.timestampUtc = record.timestampUtc;
  if (typeof record.info === "object" && record.info !== null && !Array.isArray(record.info)) {
    out.info = record.info as Record<string, unknown>;
  }
  return out;
}

/** Decodes a payload as JSON, or returns the text when it is not JSON (an empty payload is `undefined`). */
export function decodePayload(payload: Buffer): unknown {
  const text = payload.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The issueCertificate request body: only `id`, `csr` and optionally `replace` are allowed. */
export function issueCertificateBody(deviceId: string, csrWire: string, replace?: string): string {
  return JSON.stringify(
    replace === undefined ? { id: deviceId, csr: csrWire } : { id: deviceId, csr: csrWire, replace },
  );
}

/**
 * The chain from a 200 answer: `{"certificates": [...]}` (the service and the .NET/Python sources), or a bare
 * array (the embedded C branch). Each entry base64 DER or PEM. Returns a reason string when unreadable.
 */
export function certificatesFromAnswer(body: unknown): { chain: string[]; correlationId?: string } | string {
  let list: unknown = body;
  let correlationId: string | undefined;
  if (typeof body === "object" && body !== null && !Array.isArray(body)) {
    const record = body as Record<string, unknown>;
    list = record.certificates;
    if (typeof record.correlationId === "string") correlationId = record.correlationId;
  }
  if (!Array.isArray(list) || list.length === 0) return "no `certificates` array in the 200 answer";
  if (!list.every((entry) => typeof entry === "string" && entry.trim() !== "")) {
    return "`certificates` holds something other than non-empty strings";
  }
  const chain = (list as string[]).map((entry) =>
    entry
      .replace(/-----BEGIN CERTIFICATE-----/g, "")
      .replace(/-----END CERTIFICATE-----/g, "")
      .replace(/\s+/g, ""),
  );
  return correlationId === undefined ? { chain } : { chain, correlationId };
}

export interface BackoffSettings {
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/**
 * Exponential backoff with jitter: the ceiling doubles per attempt from `initialBackoffMs` up to `maxBackoffMs`,
 * and the delay is drawn from the upper half of it, so clients that dropped together do not return together.
 */
export function backoffDelayMs(attempt: number, settings: BackoffSettings, random: () => number): number {
  const ceiling = Math.min(settings.maxBackoffMs, settings.initialBackoffMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Renewal answers worth retrying and how long to wait first, per the Azure IoT C SDK's hub renewal rules:
 * 429 (429002/429003 throttling) from 1 s, 503 (503001) from 5 s, 500 (500001) from 5 min, each doubling per
 * attempt up to `maxBackoffMs` (never below the first wait), plus up to 20 % jitter; a `retry-after` from the hub
 * wins. Other statuses are final.
 */
export function renewalRetryDelayMs(
  statusCode: number,
  attempt: number,
  retryAfterSeconds: number | undefined,
  settings: { maxBackoffMs: number },
  random: () => number,
): number | undefined {
  const initial =
    statusCode === 429 ? 1_000 : statusCode === 503 ? 5_000 : statusCode === 500 ? 300_000 : undefined;
  if (initial === undefined) return undefined;
  if (retryAfterSeconds !== undefined) return Math.round(retryAfterSeconds * 1000);
  // Never below the service's minimum; up to 20 % jitter above it.
  const ceiling = Math.min(Math.max(initial, settings.maxBackoffMs), initial * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (1 + 0.2 * random()));
}

/** 429 and 5xx answers to twin requests are transient. */
export function isTransientStatus(statusCode: number): boolean {
  return statusCode === 429 || (statusCode >= 500 && statusCode <= 599);
}
