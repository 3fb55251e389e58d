// What `$iothub/credentials` requests are checked against, as IoT Hub checks them (messages and codes from the IoT
// Hub team's "Issue Certificate API - SDK Reference Guide"), and the checked test knobs (faults, delay).
import { type CsrInfo, parseCsr } from "@skittlesorter/csr";
import type { Settings } from "../state/model.ts";

const REPLACE_FORMAT = /^(\*|[A-Za-z0-9][A-Za-z0-9-]{2,34}[A-Za-z0-9])$/;
const MAX_CSR_CHARS = 8 * 1024;

/** An injected transient refusal: the next `count` requests (of `deviceId`, or of any device) get `status`. */
export interface RenewalFault {
  status: 429 | 503;
  /** Default: every request of `deviceId` until cleared; without `deviceId`, 1. */
  count?: number | undefined;
  deviceId?: string | undefined;
  /** Sent as `retry-after` on the answer topic; omitted: none (the client then uses the service's backoff). */
  retryAfterSeconds?: number | undefined;
}

/** An answer to publish on `$iothub/credentials/res/{status}/?$rid=…`. */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfterSeconds?: number | undefined;
}

/** A refusal before anything is queued: the answer and a short reason for the record. */
export class Refusal extends Error {
  readonly answer: Answer;
  constructor(
    status: number,
    errorCode: number,
    message: string,
    info: Record<string, unknown> | null = null,
  ) {
    super(message);
    this.answer = { status, body: { errorCode, message, info } };
  }
}

/** Throws a {@link Refusal} naming the first thing wrong with the request body, as IoT Hub checks it. */
export function checkRequestBody(
  payload: Buffer,
  deviceId: string,
): { csr: string; replace: string | undefined } {
  const text = payload.toString("utf8");
  if (text.trim() === "") {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request payload is missing. Include a JSON payload with 'id' and 'csr' fields.",
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Refusal(400, 400006, "cannot decode json format");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'id' field does not match the authenticated device ID. Use the same device ID used for authentication.",
    );
  }
  const record = body as Record<string, unknown>;
  if (Object.keys(record).some((key) => !["id", "csr", "replace"].includes(key))) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request payload contains an unknown field. Only 'id', 'csr', and 'replace' fields are allowed.",
    );
  }
  if (typeof record.id !== "string" || record.id === "") {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'id' field is invalid or missing. Provide the device ID of the authenticated device.",
    );
  }
  if (record.id !== deviceId) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'id' field does not match the authenticated device ID. Use the same device ID used for authentication.",
    );
  }
  const csr = record.csr;
  if (typeof csr !== "string" || csr === "") {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'csr' field is invalid or missing. Provide a valid base64-encoded certificate signing request.",
    );
  }
  if (csr.length > MAX_CSR_CHARS) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'csr' field exceeds maximum allowed length. Reduce the CSR size.",
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(csr) || csr.length % 4 !== 0) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'csr' field is not valid base64. Ensure the CSR is properly base64-encoded.",
    );
  }
  const replace = record.replace;
  if (replace !== undefined && (typeof replace !== "string" || !REPLACE_FORMAT.test(replace))) {
    throw new Refusal(
      400,
      400004,
      "Issue certificate request 'replace' field has an invalid format. An exact request ID must be between 4 and 36 characters, only have alphanumeric characters and hyphens, and cannot start or end with a hyphen. Use '*' to replace any pending request.",
    );
  }
  return { csr, replace };
}

/**
 * The backend's CSR checks, the same as the DPS CSR path's: DER PKCS#10, a signature that verifies with its own
 * key (proof of possession), CN = device id, an accepted key type. Resolves to the CSR or why it was refused.
 */
export async function checkRenewalCsr(
  wire: string,
  deviceId: string,
  settings: Settings,
): Promise<CsrInfo | string> {
  let info: CsrInfo;
  try {
    info = await parseCsr(Buffer.from(wire, "base64"));
  } catch (error) {
    return `CSR did not pass verification: ${(error as Error).message}`;
  }
  if (!info.signatureValid) {
    return "CSR did not pass verification: its signature does not verify with its own public key";
  }
  if (info.commonName !== deviceId) {
    return `CSR did not pass verification: its CN is ${info.commonName === undefined ? "missing" : `"${info.commonName}"`}, not the device id "${deviceId}"`;
  }
  if (settings.strictCsr && info.keyType !== "ec-p384") {
    return `CSR did not pass verification: its key is ${info.keyType}; this simulator runs with --strict-csr and accepts EC P-384 keys only`;
  }
  return info;
}

export function serviceFault(errorCode: number, message: string): Record<string, unknown> {
  return { errorCode, message, info: null };
}

/** A checked copy of a fault; throws a TypeError naming what is wrong. */
export function checkFault(fault: RenewalFault): RenewalFault {
  if (fault?.status !== 429 && fault?.status !== 503) {
    throw new TypeError(`a renewal fault's status must be 429 or 503, got ${JSON.stringify(fault?.status)}`);
  }
  const { count, deviceId, retryAfterSeconds } = fault;
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) {
    throw new TypeError(`a renewal fault's count must be a whole number >= 1, got ${count}`);
  }
  if (deviceId !== undefined && (typeof deviceId !== "string" || deviceId === "")) {
    throw new TypeError("a renewal fault's deviceId must be a non-empty string");
  }
  if (
    retryAfterSeconds !== undefined &&
    (!Number.isFinite(retryAfterSeconds) || retryAfterSeconds < 0 || retryAfterSeconds > 3600)
  ) {
    throw new TypeError(
      `a renewal fault's retryAfterSeconds must be 0-3600 seconds, got ${retryAfterSeconds}`,
    );
  }
  const checked: RenewalFault = { status: fault.status };
  checked.count = count ?? (deviceId === undefined ? 1 : undefined);
  if (checked.count === undefined) delete checked.count;
  if (deviceId !== undefined) checked.deviceId = deviceId;
  if (retryAfterSeconds !== undefined) checked.retryAfterSeconds = retryAfterSeconds;
  return checked;
}

export function checkDelay(delayMs: number): number {
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 10 * 60 * 1000) {
    throw new TypeError(`the renewal delay must be a whole number of milliseconds 0-600000, got ${delayMs}`);
  }
  return delayMs;
}

/** The answer of an injected fault: IoT Hub's throttling (429002) or unavailability (503001) error. */
export function faultRefusal(fault: RenewalFault): Refusal {
  const refusal =
    fault.status === 429
      ? new Refusal(
          429,
          429002,
          "Too many requests: the hub is throttling certificate requests. Retry later.",
        )
      : new Refusal(503, 503001, "The service is unavailable. Retry later.");
  refusal.answer.retryAfterSeconds = fault.retryAfterSeconds;
  return refusal;
}
