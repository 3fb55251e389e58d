/**
 * Pure DPS-over-MQTT protocol pieces: topics, username, request body, response parsing and the
 * retry / polling delay maths. No I/O here, so every rule is unit-tested on its own.
 */

/** The public global DPS endpoint. */
export const DPS_GLOBAL_HOST = "global.azure-devices-provisioning.net";
/** API version of a registration without a CSR. */
export const DPS_API_VERSION = "2019-03-31";
/** API version that accepts a `csr` and returns `issuedCertificateChain`. */
export const DPS_CSR_API_VERSION = "2025-07-01-preview";
/** Path of MQTT over WebSocket. */
export const DPS_WEBSOCKET_PATH = "/$iothub/websocket";
/** The only subscription DPS supports. */
export const DPS_RESPONSE_TOPIC_FILTER = "$dps/registrations/res/#";

const RESPONSE_PREFIX = "$dps/registrations/res/";

/** `{idScope}/registrations/{registrationId}/api-version={ver}&ClientVersion={ua}` (no `?` for DPS). */
export function dpsUsername(
  idScope: string,
  registrationId: string,
  apiVersion: string,
  userAgent?: string,
): string {
  const base = `${idScope}/registrations/${registrationId}/api-version=${apiVersion}`;
  return userAgent === undefined || userAgent === ""
    ? base
    : `${base}&ClientVersion=${encodeURIComponent(userAgent)}`;
}

/** Topic of a register request. */
export function registerTopic(rid: string): string {
  return `$dps/registrations/PUT/iotdps-register/?$rid=${encodeURIComponent(rid)}`;
}

/** Topic of an operation-status poll. */
export function pollTopic(rid: string, operationId: string): string {
  return `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${encodeURIComponent(rid)}&operationId=${encodeURIComponent(operationId)}`;
}

export interface RegisterRequestBody {
  registrationId: string;
  /** Custom allocation data, passed through to the allocation webhook. */
  payload?: unknown;
  /** base64 DER PKCS#10, no PEM armour, no line breaks. */
  csr?: string | undefined;
}

/** The JSON body of a register request: `{"registrationId","payload"?,"csr"?}`. */
export function registerRequestBody(body: RegisterRequestBody): string {
  const out: Record<string, unknown> = { registrationId: body.registrationId };
  if (body.payload !== undefined) out.payload = body.payload;
  if (body.csr !== undefined) out.csr = body.csr;
  return JSON.stringify(out);
}

/** Turns a CSR given as PEM, base64 DER (with or without line breaks) into the wire form. */
export function csrWireForm(csr: string): string {
  const body = csr
    .replace(/-----BEGIN [A-Z ]+-----/g, "")
    .replace(/-----END [A-Z ]+-----/g, "")
    .replace(/\s+/g, "");
  if (body === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    throw new TypeError("the CSR is neither PEM nor base64 DER");
  }
  return body;
}

export interface ResponseTopic {
  statusCode: number;
  rid: string;
  /** Seconds, as sent in `retry-after`, when present and valid. */
  retryAfterSeconds?: number;
}

/**
 * Parses `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]`. Returns `undefined` for
 * anything else (a foreign topic, no `$rid`, a non-numeric status).
 */
export function parseResponseTopic(topic: string): ResponseTopic | undefined {
  if (!topic.startsWith(RESPONSE_PREFIX)) return undefined;
  const rest = topic.slice(RESPONSE_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  const statusText = rest.slice(0, slash);
  if (!/^\d{3}$/.test(statusText)) return undefined;
  const tail = rest.slice(slash + 1);
  if (!tail.startsWith("?")) return undefined;
  const query = new URLSearchParams(tail.slice(1).replaceAll("+", "%2B"));
  const rid = query.get("$rid");
  if (rid === null || rid === "") return undefined;
  const parsed: ResponseTopic = { statusCode: Number(statusText), rid };
  const retryAfterSeconds = parseRetryAfter(query.get("retry-after"));
  if (retryAfterSeconds !== undefined) parsed.retryAfterSeconds = retryAfterSeconds;
  return parsed;
}

/** A `retry-after` value in seconds (integer or decimal, ≥ 0), or `undefined` when absent or malformed. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^\d+(\.\d+)?$/.test(trimmed)) return undefined;
  const seconds = Number(trimmed);
  return Number.isFinite(seconds) ? seconds : undefined;
}

/** 429 and every 5xx are transient; DPS asks to retry them. */
export function isTransientStatus(statusCode: number): boolean {
  return statusCode === 429 || (statusCode >= 500 && statusCode <= 599);
}

export interface DelayBounds {
  minRetryAfterMs: number;
  maxRetryAfterMs: number;
}

/** `retry-after` seconds → milliseconds, clamped to `[minRetryAfterMs, maxRetryAfterMs]`. */
export function retryAfterDelayMs(seconds: number, bounds: DelayBounds): number {
  const ms = Math.round(seconds * 1000);
  return Math.min(bounds.maxRetryAfterMs, Math.max(bounds.minRetryAfterMs, ms));
}

/** Delay before the next poll when DPS sent no `retry-after`: the interval plus up to half of it as jitter. */
export function defaultPollDelayMs(pollIntervalMs: number, random: () => number): number {
  return Math.round(pollIntervalMs + clampUnit(random()) * (pollIntervalMs / 2));
}

export interface BackoffOptions {
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/**
 * Exponential backoff with "equal jitter": the ceiling doubles per attempt (0-based) up to
 * `maxBackoffMs`, and the delay is drawn from the upper half of it.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const ceiling = Math.min(options.maxBackoffMs, options.initialBackoffMs * 2 ** exponent);
  return Math.round(ceiling / 2 + clampUnit(random()) * (ceiling / 2));
}

function clampUnit(value: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}

/** Values DPS reports for a registration. */
export type RegistrationStatus = "unassigned" | "assigning" | "assigned" | "failed" | "disabled";

const STATUSES: ReadonlySet<string> = new Set(["unassigned", "assigning", "assigned", "failed", "disabled"]);

/** `registrationState` as DPS sends it (every field optional on the wire). */
export interface WireRegistrationState {
  registrationId?: string;
  createdDateTimeUtc?: string;
  assignedHub?: string;
  deviceId?: string;
  status?: string;
  substatus?: string;
  errorCode?: number;
  errorMessage?: string;
  lastUpdatedDateTimeUtc?: string;
  etag?: string;
  payload?: unknown;
  issuedCertificateChain?: string[];
  x509?: unknown;
  symmetricKey?: unknown;
}

export interface OperationStatus {
  operationId: string | undefined;
  status: RegistrationStatus;
  registrationState: WireRegistrationState | undefined;
}

/** Reads a 200/202 body. Returns a reason string instead when the body is not an operation status. */
export function parseOperationStatus(body: unknown): OperationStatus | string {
  if (!isRecord(body)) return "the body is not a JSON object";
  const { operationId, status, registrationState } = body;
  if (operationId !== undefined && (typeof operationId !== "string" || operationId === "")) {
    return "operationId is not a non-empty string";
  }
  let state: WireRegistrationState | undefined;
  if (registrationState !== undefined && registrationState !== null) {
    if (!isRecord(registrationState)) return "registrationState is not an object";
    const read = readRegistrationState(registrationState);
    if (typeof read === "string") return read;
    state = read;
  }
  const effective = typeof status === "string" ? status : state?.status;
  if (typeof effective !== "string" || !STATUSES.has(effective)) {
    return `status ${JSON.stringify(effective ?? null)} is not one of ${[...STATUSES].join(", ")}`;
  }
  return { operationId, status: effective as RegistrationStatus, registrationState: state };
}

function readRegistrationState(raw: Record<string, unknown>): WireRegistrationState | string {
  const state: WireRegistrationState = {};
  const stringFields = [
    "registrationId",
    "createdDateTimeUtc",
    "assignedHub",
    "deviceId",
    "status",
    "substatus",
    "errorMessage",
    "lastUpdatedDateTimeUtc",
    "etag",
  ] as const;
  for (const field of stringFields) {
    const value = raw[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") return `registrationState.${field} is not a string`;
    state[field] = value;
  }
  if (typeof raw.errorCode === "number") state.errorCode = raw.errorCode;
  if (raw.payload !== undefined && raw.payload !== null) state.payload = raw.payload;
  if (raw.x509 !== undefined) state.x509 = raw.x509;
  if (raw.symmetricKey !== undefined) state.symmetricKey = raw.symmetricKey;
  const chain = raw.issuedCertificateChain;
  if (chain !== undefined && chain !== null) {
    if (!Array.isArray(chain) || !chain.every((entry) => typeof entry === "string")) {
      return "registrationState.issuedCertificateChain is not an array of strings";
    }
    state.issuedCertificateChain = [...chain];
  }
  return state;
}

/** `ProvisioningServiceErrorDetails`: the body of a 4xx/5xx answer. */
export interface WireErrorDetails {
  errorCode?: number | undefined;
  trackingId?: string | undefined;
  message?: string | undefined;
  timestampUtc?: string | undefined;
  info?: Record<string, string> | undefined;
}

/** Reads whatever error details a body carries; never throws. */
export function parseErrorDetails(body: unknown): WireErrorDetails {
  if (!isRecord(body)) return {};
  const details: WireErrorDetails = {};
  if (typeof body.errorCode === "number") details.errorCode = body.errorCode;
  else if (typeof body.errorCode === "string" && /^\d+$/.test(body.errorCode)) {
    details.errorCode = Number(body.errorCode);
  }
  if (typeof body.trackingId === "string") details.trackingId = body.trackingId;
  if (typeof body.message === "string") details.message = body.message;
  if (typeof body.timestampUtc === "string") details.timestampUtc = body.timestampUtc;
  if (isRecord(body.info)) {
    const info: Record<string, string> = {};
    for (const [key, value] of Object.entries(body.info)) {
      info[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
    details.info = info;
  }
  return details;
}

/** Decodes a response payload: JSON when it parses, otherwise the text (or `undefined` when empty). */
export function decodePayload(payload: Uint8Array): unknown {
  const text = Buffer.from(payload).toString("utf8").trim();
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
