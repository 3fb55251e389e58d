import { createPrivateKey, type KeyObject } from "node:crypto";
import { createSasToken } from "@skittlesorter/attestation";
import { certificateFacts, publicKeysMatch, splitPemBundle } from "@skittlesorter/csr";
import { HubError, messageOf } from "./errors.ts";
import { deviceResourceUri } from "./protocol.ts";

/** How the device authenticates. Swap with {@link HubClient.setCredentials}; used from the next connect. */
export type HubCredentials =
  | {
      kind: "x509";
      /** The device certificate followed by its chain (leaf → issuing CA…), PEM; its CN must be the device id. */
      certificatePem: string;
      /** The certificate's private key, PEM. */
      privateKeyPem: string;
    }
  | {
      kind: "sas";
      /** The device's base64 symmetric key; a fresh SAS token is made for every connect. */
      deviceKey: string;
      /** Lifetime of each token. Default 3600. */
      ttlSeconds?: number | undefined;
    };

export function checkCredentials(credentials: HubCredentials, deviceId: string): HubCredentials {
  const invalid = (message: string, cause?: unknown): HubError =>
    new HubError("HUB_INVALID_OPTIONS", message, { cause });
  if (credentials?.kind === "sas") {
    try {
      // Validates the key (and ttl) once, without keeping the token.
      createSasToken(deviceResourceUri("validation", deviceId), credentials.deviceKey, {
        ttlSeconds: credentials.ttlSeconds,
      });
    } catch (error) {
      throw invalid(`credentials.deviceKey is unusable: ${messageOf(error)}`, error);
    }
    return { ...credentials };
  }
  if (credentials?.kind !== "x509") {
    throw invalid(
      'credentials is required: { kind: "x509", certificatePem, privateKeyPem } or { kind: "sas", deviceKey }.',
    );
  }
  let leafPem: string | undefined;
  let facts: ReturnType<typeof certificateFacts>;
  try {
    leafPem = splitPemBundle(credentials.certificatePem)[0];
    if (leafPem === undefined) throw new TypeError("no PEM certificate found");
    facts = certificateFacts(leafPem);
  } catch (error) {
    throw invalid(`credentials.certificatePem is not a PEM certificate chain (${messageOf(error)}).`, error);
  }
  if (facts.commonName !== deviceId) {
    throw invalid(
      `The certificate's CN is ${JSON.stringify(facts.commonName ?? null)}, but IoT Hub needs CN = device id "${deviceId}"; use the certificate issued for this device.`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(credentials.privateKeyPem);
  } catch (error) {
    throw invalid("credentials.privateKeyPem is not a readable PEM private key.", error);
  }
  if (!publicKeysMatch(key, facts.publicKey)) {
    throw invalid(
      "credentials.privateKeyPem does not belong to the certificate; pass the key the certificate was issued for.",
    );
  }
  return { ...credentials };
}
