// The DPS instance's `provisioningserviceowner` shared access policy: its key (made at first start, kept in the
// store) and the SAS check of every service REST request.
import { randomBytes } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { AttestationError, verifySasToken } from "@skittlesorter/attestation";
import type { Clock } from "@skittlesorter/core";
import type { Store } from "../../state/store.ts";
import { DpsRestError } from "./errors.ts";

export const SERVICE_POLICY_NAME = "provisioningserviceowner";
const KEY_META = "dps.serviceKey";

/** The policy's key: read from the store, or made (64 random bytes, base64) and stored on first use. */
export function serviceKey(store: Store): string {
  const existing = store.getMeta<string>(KEY_META);
  if (existing !== undefined) return existing;
  const key = randomBytes(64).toString("base64");
  store.setMeta(KEY_META, key);
  return key;
}

/** `HostName=…;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=…` for `hostName` (`host` or `host:port`). */
export function serviceConnectionString(hostName: string, key: string): string {
  return `HostName=${hostName};SharedAccessKeyName=${SERVICE_POLICY_NAME};SharedAccessKey=${key}`;
}

function hostOnly(value: string): string {
  const lower = value.trim().toLowerCase();
  return lower.startsWith("[") ? lower.slice(0, lower.indexOf("]") + 1) : (lower.split(":")[0] ?? lower);
}

/**
 * Checks `Authorization: SharedAccessSignature sr=<host>&sig=…&se=…&skn=provisioningserviceowner` (the SDK signs the
 * bare host name). Throws a 401 {@link DpsRestError}; the reason goes to `info`, never the token.
 */
export function authorize(headers: IncomingHttpHeaders, key: string, clock: Clock): void {
  const token = headers.authorization;
  if (typeof token !== "string" || token === "") {
    throw DpsRestError.unauthorized(
      "The request has no Authorization header; send a SharedAccessSignature of the provisioningserviceowner policy.",
    );
  }
  let resource: string;
  try {
    resource = verifySasToken(token, key, { keyName: SERVICE_POLICY_NAME, clock }).resourceUri;
  } catch (error) {
    const reason = error instanceof AttestationError ? error.message : "The SAS token cannot be verified.";
    throw DpsRestError.unauthorized(reason);
  }
  const host = typeof headers.host === "string" ? headers.host : "";
  if (hostOnly(resource) !== hostOnly(host)) {
    throw DpsRestError.unauthorized(
      `The SAS token is for "${resource.slice(0, 200)}", not this provisioning service ("${hostOnly(host)}"); sign it for the connection string's HostName.`,
    );
  }
}
