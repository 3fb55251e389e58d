// Checks of admin API request bodies and headers, answered 400 (or 412/428 for etags) with a message naming the fix.
import { validateRegistrationId } from "@skittlesorter/attestation";
import { ifMatchOf as etagOf, HttpError, type RouteRequest } from "../net/http.ts";

export const bad = (code: string, message: string): HttpError => new HttpError(400, code, message);

export function object(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw bad("INVALID_BODY", `${what} must be a JSON object.`);
  }
  return value as Record<string, unknown>;
}

export function optionalString(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "")
    throw bad("INVALID_BODY", `"${key}" must be a non-empty string.`);
  return value;
}

export function optionalBoolean(record: Record<string, unknown>, key: string): boolean | undefined {
  const value = record[key];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw bad("INVALID_BODY", `"${key}" must be true or false.`);
  return value;
}

export function optionalInteger(
  record: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const value = record[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw bad("INVALID_BODY", `"${key}" must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

/** Enrollment ids and registration ids: DPS rules, lowercased. */
export function id(value: string, what: string): string {
  try {
    return validateRegistrationId(value);
  } catch (error) {
    throw bad("INVALID_ID", `Invalid ${what}: ${(error as Error).message}`);
  }
}

export function resourceName(value: string, what: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(value)) {
    throw bad(
      "INVALID_NAME",
      `Invalid ${what} "${value.slice(0, 200)}": use 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit.`,
    );
  }
  return value;
}

/** The `If-Match` etag of a request (weak marker and quotes removed), or undefined. */
export function ifMatchOf(request: RouteRequest): string | undefined {
  return etagOf(request.headers["if-match"]);
}

export function checkEtag(
  request: RouteRequest,
  current: string | undefined,
  what: string,
  required: boolean,
): void {
  const given = ifMatchOf(request);
  if (given === undefined) {
    if (required) {
      throw new HttpError(
        428,
        "ETAG_REQUIRED",
        `Pass the ${what}'s current etag as If-Match (or * to skip the check).`,
      );
    }
    return;
  }
  if (given !== "*" && given !== current) {
    throw new HttpError(
      412,
      "ETAG_MISMATCH",
      `The etag does not match the ${what}'s current etag; read it again (it changes on every update) and retry.`,
    );
  }
}

// --- views --------------------------------------------------------------------------------------
