// The hub's shared access policy `iothubowner`: its keys, its connection string, and the SAS check of service calls.
import { randomBytes } from "node:crypto";
import { parseSasToken, verifySasToken } from "@skittlesorter/attestation";
import type { Clock } from "@skittlesorter/core";
import type { RouteRequest } from "../../net/http.ts";
import type { LinkedHub } from "../../state/model.ts";
import type { Store } from "../../state/store.ts";
import { iotHubError } from "./errors.ts";

/** The policy with every IoT Hub service right (registry read/write, service connect). */
export const SERVICE_POLICY_NAME = "iothubowner";

export interface SharedAccessPolicyKeys {
  primaryKey: string;
  secondaryKey: string;
}

/** The store's meta key for a hub's `iothubowner` keys. */
const policyMetaKey = (hubName: string): string => `hub.${hubName}.policy.${SERVICE_POLICY_NAME}`;

const newPolicyKey = (): string => randomBytes(32).toString("base64");

/** The hub's `iothubowner` keys, generated (and stored, so they survive restarts) the first time. */
export function ensureServicePolicy(store: Store, hubName: string): SharedAccessPolicyKeys {
  const stored = store.getMeta<SharedAccessPolicyKeys>(policyMetaKey(hubName));
  if (stored !== undefined) return stored;
  const keys = { primaryKey: newPolicyKey(), secondaryKey: newPolicyKey() };
  store.setMeta(policyMetaKey(hubName), keys);
  return keys;
}

/** The stored `iothubowner` keys of a hub; undefined before {@link ensureServicePolicy} ran for it. */
export function servicePolicyOf(store: Store, hubName: string): SharedAccessPolicyKeys | undefined {
  return store.getMeta<SharedAccessPolicyKeys>(policyMetaKey(hubName));
}

/** `HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…`, as the Azure portal shows it. */
export function serviceConnectionString(hostname: string, key: string): string {
  return `HostName=${hostname};SharedAccessKeyName=${SERVICE_POLICY_NAME};SharedAccessKey=${key}`;
}

/** A host name without its port, lowercase (`localhost:8443` → `localhost`). */
const nameOf = (host: string): string => host.toLowerCase().replace(/:\d+$/, "");

export interface ServiceAuthorizerOptions {
  store: Store;
  clock: Clock;
  /** The hubs this simulator serves itself. */
  hubs: () => LinkedHub[];
}

/**
 * Builds the SAS check of IoT Hub service calls: `Authorization: SharedAccessSignature sr=<hostname>&sig=…&se=…&skn=iothubowner`
 * (any parameter order). `sr` names the hub, with or without a port (the service SDKs sign the bare host name), or a
 * resource below it. Resolves to the hub the token is for; refuses with 401 `IotHubUnauthorizedAccess` otherwise.
 * Signatures are compared in constant time; the token never appears in a message.
 */
export function createServiceAuthorizer(
  options: ServiceAuthorizerOptions,
): (request: RouteRequest) => LinkedHub {
  const refuse = (why: string) =>
    iotHubError(
      401,
      "IotHubUnauthorizedAccess",
      `Unauthorized: ${why}. Sign a SAS token with the hub's ${SERVICE_POLICY_NAME} key, e.g. from ` +
        "hubs[].serviceConnectionString in sim.json.",
    );
  return (request) => {
    const header = request.headers.authorization;
    if (header === undefined || header === "") throw refuse("the Authorization header is missing");
    let token: ReturnType<typeof parseSasToken>;
    try {
      token = parseSasToken(header);
    } catch (error) {
      throw refuse(`the Authorization header is not a SAS token (${(error as Error).message})`);
    }
    if (token.keyName !== SERVICE_POLICY_NAME) {
      throw refuse(
        token.keyName === undefined
          ? "the SAS token names no shared access policy (skn)"
          : `the SAS token's policy "${token.keyName}" is not one of the hub's (only ${SERVICE_POLICY_NAME})`,
      );
    }
    const audience = nameOf(token.resourceUri.split("/")[0] ?? "");
    const hub = options.hubs().find((candidate) => nameOf(candidate.hostname) === audience);
    const keys = hub === undefined ? undefined : servicePolicyOf(options.store, hub.name);
    if (hub === undefined || keys === undefined) {
      throw refuse(`the SAS token is for "${token.resourceUri}", which is not this hub`);
    }
    for (const key of [keys.primaryKey, keys.secondaryKey]) {
      try {
        verifySasToken(header, key, { clock: options.clock });
        return hub;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === "SAS_SIGNATURE_MISMATCH") continue;
        throw refuse((error as Error).message.replace(/\.$/, ""));
      }
    }
    throw refuse(`the SAS signature matches neither ${SERVICE_POLICY_NAME} key`);
  };
}
