/** DPS device MQTT protocol: topics, user names, answers. */
import { randomUUID } from "node:crypto";
import { azureTimestamp } from "../azure-time.ts";

export const RESPONSE_TOPIC_FILTER = "$dps/registrations/res/#";
const REGISTER_PREFIX = "$dps/registrations/PUT/iotdps-register/";
const STATUS_PREFIX = "$dps/registrations/GET/iotdps-get-operationstatus/";

/** Device API versions this simulator accepts; `csr` needs {@link CSR_API_VERSION}. */
export const API_VERSIONS: readonly string[] = Object.freeze([
  "2019-03-31",
  "2021-06-01",
  "2025-07-01-preview",
]);
export const CSR_API_VERSION = "2025-07-01-preview";

/** A register or operation-status request; `rid` is what the answer echoes (MQTT's `$rid`). */
export type DpsOperationRequest =
  | { kind: "register"; rid: string }
  | { kind: "status"; rid: string; operationId: string | undefined };

export type DpsRequest =
  | DpsOperationRequest
  /** A topic this service does not know; `rid` when one could be read. */
  | { kind: "unknown"; rid: string | undefined };

/**
 * Parses a request topic. `$rid` is returned exactly as sent (the answer must echo it verbatim); other
 * query parameters are URL-decoded.
 */
export function parseRequestTopic(topic: string): DpsRequest {
  const query = queryOf(topic);
  const rawRid = query.get("$rid");
  const rid = rawRid === undefined || rawRid === "" ? undefined : rawRid;
  const path = topic.includes("?") ? topic.slice(0, topic.indexOf("?")) : topic;
  if (rid !== undefined && path === REGISTER_PREFIX) return { kind: "register", rid };
  if (rid !== undefined && path === STATUS_PREFIX) {
    const raw = query.get("operationId");
    return {
      kind: "status",
      rid,
      operationId: raw === undefined || raw === "" ? undefined : safeDecode(raw),
    };
  }
  return { kind: "unknown", rid };
}

/** `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]` (`$rid` first, as the C# SDK expects). */
export function responseTopic(status: number, rid: string, retryAfterSeconds?: number): string {
  const base = `$dps/registrations/res/${status}/?$rid=${rid}`;
  return retryAfterSeconds === undefined ? base : `${base}&retry-after=${retryAfterSeconds}`;
}

export interface ParsedUserName {
  idScope: string;
  registrationId: string;
  apiVersion: string | undefined;
  clientVersion: string | undefined;
}

/**
 * Parses `{idScope}/registrations/{registrationId}/api-version={v}[&ClientVersion={ua}]` (a `?` before
 * `api-version` is tolerated). Returns undefined when the shape is not that.
 */
export function parseUserName(userName: string | undefined): ParsedUserName | undefined {
  if (userName === undefined) return undefined;
  const parts = userName.split("/");
  if (parts.length < 4 || parts[1] !== "registrations") return undefined;
  const idScope = parts[0] ?? "";
  const registrationId = safeDecode(parts[2] ?? "");
  const rest = parts.slice(3).join("/").replace(/^\?/, "");
  if (idScope === "" || registrationId === "") return undefined;
  const query = parseQuery(rest);
  const apiVersion = query.get("api-version");
  const clientVersion = query.get("ClientVersion") ?? query.get("clientVersion");
  return {
    idScope,
    registrationId,
    apiVersion: apiVersion === undefined ? undefined : safeDecode(apiVersion),
    clientVersion: clientVersion === undefined ? undefined : safeDecode(clientVersion),
  };
}

function queryOf(topic: string): Map<string, string> {
  const at = topic.indexOf("?");
  return at < 0 ? new Map() : parseQuery(topic.slice(at + 1));
}

/** Raw (undecoded) values by name; the first occurrence wins. */
function parseQuery(query: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (!result.has(name)) result.set(name, value);
  }
  return result;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export const MINUTE_MS = 60_000;

/** A 429 whose retry-after is when the oldest counted event (epoch ms) leaves the one-minute window. */
export function throttled(reason: string, oldest: number, now: number): DpsFailure {
  const retryAfterSeconds = Math.max(1, Math.ceil((oldest + MINUTE_MS - now) / 1000));
  return new DpsFailure(429, DpsErrorCode.throttled, `${reason}; retry after ${retryAfterSeconds} s.`, {
    retryAfterSeconds,
  });
}

/** The body of an error answer: Azure's short `message`, the simulator's explanation in `info.explanation`. */
export function errorBody(failure: DpsFailure, nowMs: number): Record<string, unknown> {
  return {
    errorCode: failure.errorCode,
    trackingId: randomUUID(),
    message: failure.azureMessage,
    timestampUtc: azureTimestamp(nowMs),
    info: { ...failure.info, explanation: failure.message },
  };
}

/**
 * A DPS error answer: `{status}` on the topic (or the HTTP status), `{errorCode, trackingId, message, timestampUtc,
 * info?}` as body. `azureMessage` is the short text Azure puts in `message` ("Unauthorized"); the error's own
 * `message` is the simulator's explanation, which goes to its log, its events and `info.explanation`.
 */
export class DpsFailure extends Error {
  readonly status: number;
  readonly errorCode: number;
  readonly azureMessage: string;
  readonly info: Record<string, string> | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    status: number,
    errorCode: number,
    message: string,
    options: { info?: Record<string, string>; retryAfterSeconds?: number; azureMessage?: string } = {},
  ) {
    super(message);
    this.name = "DpsFailure";
    this.status = status;
    this.errorCode = errorCode;
    this.azureMessage = options.azureMessage ?? AZURE_MESSAGES[errorCode] ?? "Bad request";
    this.info = options.info;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * Error codes the simulator answers with. 400012, 401002, 429001 follow what the real service is known to
 * send; the others are the simulator's own choice where the service's codes are undocumented.
 */
export const DpsErrorCode = Object.freeze({
  /** Body is not a JSON object, a field has the wrong type, or `csr` is sent with an api version without it. */
  deserialization: 400012,
  /** The user name's api-version is missing or not supported. */
  unsupportedApiVersion: 400001,
  /** The body's registrationId differs from the connection's. */
  registrationIdMismatch: 400007,
  /** The CSR is not base64 DER PKCS#10, its signature is wrong, its CN is not the registration id, or its key type is refused. */
  invalidCsr: 400004,
  /** Missing, malformed, expired or forged credentials; unknown enrollment; unverified CA. */
  unauthorized: 401002,
  /** Unknown operation id (or one of another registration). */
  operationNotFound: 404001,
  /** A topic this service does not serve. */
  unknownOperation: 404000,
  /** Request payload larger than the limit. */
  payloadTooLarge: 413001,
  throttled: 429001,
  internal: 500000,
} as const);

/**
 * The short `message` DPS sends for each error code. "Unauthorized" and "Invalid certificate." are what the service
 * is seen to send (401002, SAS and X.509); the others are the simulator's choice in the same terse style.
 */
const AZURE_MESSAGES: Readonly<Record<number, string>> = Object.freeze({
  [DpsErrorCode.deserialization]: "Deserialization error.",
  [DpsErrorCode.unsupportedApiVersion]: "Unsupported api-version.",
  [DpsErrorCode.registrationIdMismatch]: "Registration id mismatch.",
  [DpsErrorCode.invalidCsr]: "Invalid certificate signing request.",
  [DpsErrorCode.unauthorized]: "Unauthorized",
  [DpsErrorCode.operationNotFound]: "Operation not found.",
  [DpsErrorCode.unknownOperation]: "Not found.",
  [DpsErrorCode.payloadTooLarge]: "Request entity too large.",
  [DpsErrorCode.throttled]: "Too many requests.",
  [DpsErrorCode.internal]: "Internal server error.",
});

/** The `message` of an X.509 attestation failure (401002). */
export const INVALID_CERTIFICATE = "Invalid certificate.";
