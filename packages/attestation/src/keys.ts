import { createHmac } from "node:crypto";
import { AttestationError } from "./errors.ts";
import { validateRegistrationId } from "./registration-id.ts";

const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 64;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes a DPS/IoT Hub symmetric key: standard base64 of 16-64 bytes. `what` names the key in the error
 * ("group key", "device key"); the key itself is never put into the message.
 */
export function decodeSymmetricKey(key: string, what = "key"): Buffer {
  if (typeof key !== "string" || key.length === 0) {
    throw new AttestationError(
      "ATTESTATION_INVALID_KEY",
      `The ${what} is empty; pass the base64 symmetric key shown for the enrollment in DPS.`,
    );
  }
  if (!BASE64.test(key)) {
    throw new AttestationError(
      "ATTESTATION_INVALID_KEY",
      `The ${what} is not valid base64 (${key.length} characters); pass the key exactly as DPS shows it ` +
        "(characters A-Z a-z 0-9 + /, padded with = to a multiple of 4).",
    );
  }
  const bytes = Buffer.from(key, "base64");
  if (bytes.length < MIN_KEY_BYTES || bytes.length > MAX_KEY_BYTES) {
    throw new AttestationError(
      "ATTESTATION_INVALID_KEY",
      `The ${what} decodes to ${bytes.length} bytes; DPS symmetric keys are ${MIN_KEY_BYTES}-${MAX_KEY_BYTES} bytes.`,
    );
  }
  return bytes;
}

/**
 * Derives a device key from an enrollment-group key:
 * `base64(HMAC-SHA256(base64decode(groupKey), registrationId))`. The registration id is validated and
 * lowercased first, as everywhere in this package.
 */
export function deriveDeviceKey(groupKey: string, registrationId: string): string {
  const id = validateRegistrationId(registrationId);
  const key = decodeSymmetricKey(groupKey, "group key");
  return createHmac("sha256", key).update(id, "utf8").digest("base64");
}
