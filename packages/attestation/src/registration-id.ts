import { AttestationError } from "./errors.ts";

/** Longest registration id DPS accepts. */
export const MAX_REGISTRATION_ID_LENGTH = 128;

const RULE =
  "a DPS registration id is 1-128 characters of a-z, 0-9, '.', ':', '_' and '-', starting and ending with a letter or digit";
const ALLOWED = /^[a-z0-9.:_-]$/;
const ALNUM = /^[a-z0-9]$/;

/**
 * Checks a DPS registration id and returns it in lowercase (DPS treats ids case-insensitively; we always
 * send lowercase). Throws `ATTESTATION_INVALID_REGISTRATION_ID` naming the offending character or length.
 */
export function validateRegistrationId(id: string): string {
  if (typeof id !== "string" || id.length === 0) {
    throw invalid("registration id is empty");
  }
  if (id.length > MAX_REGISTRATION_ID_LENGTH) {
    throw invalid(
      `registration id is ${id.length} characters long, the maximum is ${MAX_REGISTRATION_ID_LENGTH}`,
    );
  }
  const lower = id.toLowerCase();
  // Iterate by code point so a non-BMP character is reported whole.
  let index = 0;
  for (const char of lower) {
    if (!ALLOWED.test(char)) {
      throw invalid(`registration id "${id}" contains ${JSON.stringify(char)} at position ${index + 1}`);
    }
    index += char.length;
  }
  const first = lower[0] ?? "";
  const last = lower[lower.length - 1] ?? "";
  if (!ALNUM.test(first)) {
    throw invalid(`registration id "${id}" starts with ${JSON.stringify(first)}`);
  }
  if (!ALNUM.test(last)) {
    throw invalid(`registration id "${id}" ends with ${JSON.stringify(last)}`);
  }
  return lower;
}

function invalid(what: string): AttestationError {
  return new AttestationError(
    "ATTESTATION_INVALID_REGISTRATION_ID",
    `Invalid registration id: ${what}; ${RULE}.`,
  );
}
