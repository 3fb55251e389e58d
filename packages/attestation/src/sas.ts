import { createHmac, timingSafeEqual } from "node:crypto";
import { type Clock, systemClock } from "@skittlesorter/core";
import { AttestationError } from "./errors.ts";
import { decodeSymmetricKey } from "./keys.ts";
import { validateRegistrationId } from "./registration-id.ts";

const PREFIX = "SharedAccessSignature";
const DEFAULT_TTL_SECONDS = 3600;

/** `{idScope}/registrations/{registrationId}`, the resource a DPS SAS token is issued for. */
export function dpsResourceUri(idScope: string, registrationId: string): string {
  if (typeof idScope !== "string" || !/^[A-Za-z0-9._-]+$/.test(idScope)) {
    throw new AttestationError(
      "ATTESTATION_INVALID_ID_SCOPE",
      `Invalid ID scope ${JSON.stringify(idScope)}: use the DPS instance's ID scope as shown in the portal ` +
        '(letters and digits, e.g. "0ne00000A0A").',
    );
  }
  return `${idScope}/registrations/${validateRegistrationId(registrationId)}`;
}

export interface SasTokenOptions {
  /** `skn`; DPS device registration uses `"registration"`. Omitted from the token when not given. */
  keyName?: string | undefined;
  /** Lifetime from `clock.now()`; default 3600. */
  ttlSeconds?: number | undefined;
  /** Absolute expiry in Unix seconds; overrides `ttlSeconds`. */
  expiresAt?: number | undefined;
  clock?: Clock | undefined;
}

/**
 * Creates `SharedAccessSignature sr={enc(uri)}&sig={enc(b64 HMAC(key, enc(uri)+"\n"+se))}&se={se}[&skn={enc(keyName)}]`.
 * `key` is the base64 symmetric key (for DPS the device key).
 */
export function createSasToken(resourceUri: string, key: string, options: SasTokenOptions = {}): string {
  if (typeof resourceUri !== "string" || resourceUri.length === 0) {
    throw new AttestationError(
      "SAS_INVALID_RESOURCE_URI",
      "The SAS resource uri is empty; for DPS use dpsResourceUri(idScope, registrationId).",
    );
  }
  const keyBytes = decodeSymmetricKey(key, "SAS signing key");
  const expiresAt = expiryOf(options);
  const sr = encodeStrict(resourceUri);
  const sig = sign(keyBytes, sr, String(expiresAt));
  let token = `${PREFIX} sr=${sr}&sig=${encodeStrict(sig)}&se=${expiresAt}`;
  if (options.keyName !== undefined && options.keyName !== "") {
    token += `&skn=${encodeStrict(options.keyName)}`;
  }
  return token;
}

function expiryOf(options: SasTokenOptions): number {
  if (options.expiresAt !== undefined) {
    if (!Number.isSafeInteger(options.expiresAt) || options.expiresAt <= 0) {
      throw new AttestationError(
        "SAS_INVALID_EXPIRY",
        `expiresAt must be a positive whole number of Unix seconds, got ${options.expiresAt}.`,
      );
    }
    return options.expiresAt;
  }
  const ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new AttestationError(
      "SAS_INVALID_EXPIRY",
      `ttlSeconds must be a positive whole number of seconds, got ${ttl}.`,
    );
  }
  const now = (options.clock ?? systemClock).now();
  return Math.floor(now / 1000) + ttl;
}

export interface ParsedSasToken {
  /** `sr` exactly as it appears in the token (what the sender signed, in most SDKs). */
  sr: string;
  /** `sr` URL-decoded. */
  resourceUri: string;
  /** `sig` URL-decoded: the base64 HMAC. */
  signature: string;
  /** `se`, Unix seconds. */
  expiresAt: number;
  /** `skn` URL-decoded, when present. */
  keyName?: string;
}

/**
 * Parses `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]` (parameters in any order; unknown ones ignored).
 * Throws `SAS_MALFORMED` saying what is missing or wrong.
 */
export function parseSasToken(token: string): ParsedSasToken {
  if (typeof token !== "string") throw malformed("it is not a string");
  const match = /^\s*SharedAccessSignature\s+(\S+)\s*$/.exec(token);
  if (!match?.[1]) {
    throw malformed(
      token.trim().startsWith(PREFIX)
        ? 'the parameters after "SharedAccessSignature " are missing or contain spaces'
        : 'it does not start with "SharedAccessSignature "',
    );
  }
  const fields = new Map<string, string>();
  for (const [index, part] of match[1].split("&").entries()) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    // Say where, not what: the part could be a signature.
    if (eq <= 0) throw malformed(`parameter ${index + 1} is not name=value`);
    const name = part.slice(0, eq);
    if (fields.has(name)) throw malformed(`parameter "${name}" appears more than once`);
    fields.set(name, part.slice(eq + 1));
  }
  const missing = ["sr", "sig", "se"].filter((name) => !fields.get(name));
  if (missing.length > 0) {
    throw malformed(`missing ${missing.map((name) => `"${name}"`).join(", ")}`);
  }
  const sr = fields.get("sr") ?? "";
  const se = fields.get("se") ?? "";
  if (!/^\d{1,15}$/.test(se))
    throw malformed(`"se" must be the expiry in Unix seconds, got ${JSON.stringify(se)}`);
  const parsed: ParsedSasToken = {
    sr,
    resourceUri: decode(sr, "sr"),
    signature: decode(fields.get("sig") ?? "", "sig"),
    expiresAt: Number(se),
  };
  const skn = fields.get("skn");
  if (skn !== undefined && skn !== "") parsed.keyName = decode(skn, "skn");
  return parsed;
}

export interface VerifySasOptions {
  /** The resource the token must be for; compared case-insensitively with the decoded `sr`. */
  expectedResourceUri?: string | undefined;
  /** The `skn` the token must carry (e.g. `"registration"`). */
  keyName?: string | undefined;
  clock?: Clock | undefined;
}

/**
 * Verifies a SAS token against `key` (base64) and returns it parsed. The signature is checked over the raw
 * `sr` as sent (and, failing that, over the decoded `sr`, which is what the official Node SDK signs), then
 * the expiry, resource uri and key name. Comparison is constant-time.
 */
export function verifySasToken(token: string, key: string, options: VerifySasOptions = {}): ParsedSasToken {
  const parsed = parseSasToken(token);
  const keyBytes = decodeSymmetricKey(key, "SAS verification key");
  const given = Buffer.from(parsed.signature, "base64");
  const se = String(parsed.expiresAt);
  const candidates = parsed.sr === parsed.resourceUri ? [parsed.sr] : [parsed.sr, parsed.resourceUri];
  let ok = false;
  for (const signed of candidates) {
    const expected = Buffer.from(sign(keyBytes, signed, se), "base64");
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
  }
  if (!ok) {
    throw new AttestationError(
      "SAS_SIGNATURE_MISMATCH",
      `The SAS token signature for "${parsed.resourceUri}" does not match the key; sign the token with the ` +
        "device key of this registration (derived from the group key for group enrollments).",
    );
  }
  const nowSeconds = (options.clock ?? systemClock).now() / 1000;
  if (parsed.expiresAt <= nowSeconds) {
    throw new AttestationError(
      "SAS_EXPIRED",
      `The SAS token expired at ${new Date(parsed.expiresAt * 1000).toISOString()} (se=${parsed.expiresAt}); ` +
        "create a new token, and check the device clock.",
    );
  }
  if (
    options.expectedResourceUri !== undefined &&
    parsed.resourceUri.toLowerCase() !== options.expectedResourceUri.toLowerCase()
  ) {
    throw new AttestationError(
      "SAS_RESOURCE_MISMATCH",
      `The SAS token is for "${parsed.resourceUri}" but "${options.expectedResourceUri}" was expected; ` +
        "sign the token for {idScope}/registrations/{registrationId} of this connection.",
    );
  }
  if (options.keyName !== undefined && parsed.keyName !== options.keyName) {
    throw new AttestationError(
      "SAS_KEY_NAME_MISMATCH",
      `The SAS token has ${parsed.keyName === undefined ? "no skn" : `skn="${parsed.keyName}"`} but ` +
        `skn="${options.keyName}" is required.`,
    );
  }
  return parsed;
}

/** Replaces the `sig` value of a SAS token (or any text containing one) with `***`, for logs. */
export function redactSasToken(token: string): string {
  return token.replace(/(^|[\s&?;])sig=[^&\s;]*/g, "$1sig=***");
}

function sign(key: Buffer, sr: string, se: string): string {
  return createHmac("sha256", key).update(`${sr}\n${se}`, "utf8").digest("base64");
}

/** encodeURIComponent plus `!'()*`, like the Azure IoT SDKs. */
function encodeStrict(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function decode(value: string, name: string): string {
  try {
    return decodeURIComponent(value);
  } catch (error) {
    throw malformed(`"${name}" is not valid URL encoding`, error);
  }
}

function malformed(what: string, cause?: unknown): AttestationError {
  return new AttestationError(
    "SAS_MALFORMED",
    `Malformed SAS token: ${what}; expected "SharedAccessSignature sr=<uri>&sig=<signature>&se=<expiry>[&skn=<key name>]".`,
    { cause },
  );
}
