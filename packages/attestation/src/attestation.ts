import type { Clock } from "@skittlesorter/core";
import { decodeSymmetricKey, deriveDeviceKey } from "./keys.ts";
import { validateRegistrationId } from "./registration-id.ts";
import { createSasToken, dpsResourceUri } from "./sas.ts";
import type { X509Attestation } from "./x509.ts";

export interface SymmetricKeyAttestation {
  kind: "symmetricKey";
  /** Validated, lowercase. */
  registrationId: string;
  /** Base64 device key (individual enrollment key, or derived from the group key). */
  deviceKey: string;
}

export type SymmetricKeyAttestationInput =
  | { registrationId: string; deviceKey: string }
  | { registrationId: string; groupKey: string };

/** Symmetric-key attestation from a device key, or from a group key (the device key is derived). */
export function symmetricKeyAttestation(input: SymmetricKeyAttestationInput): SymmetricKeyAttestation {
  const registrationId = validateRegistrationId(input.registrationId);
  if ("groupKey" in input) {
    return {
      kind: "symmetricKey",
      registrationId,
      deviceKey: deriveDeviceKey(input.groupKey, registrationId),
    };
  }
  decodeSymmetricKey(input.deviceKey, "device key");
  return { kind: "symmetricKey", registrationId, deviceKey: input.deviceKey };
}

export type Attestation = SymmetricKeyAttestation | X509Attestation;

/** What to put into the MQTT CONNECT / TLS options for a DPS registration. */
export interface MqttCredentials {
  /** SAS token (symmetric key). */
  password?: string;
  /** Leaf certificate followed by the chain, PEM (X.509). */
  cert?: string;
  /** Private key PEM (X.509). */
  key?: string;
}

export interface MqttCredentialsOptions {
  idScope: string;
  /** SAS token lifetime; default 3600. */
  ttlSeconds?: number | undefined;
  clock?: Clock | undefined;
}

/**
 * MQTT credentials for DPS: symmetric key → `password` = SAS token for `{idScope}/registrations/{id}` with
 * `skn=registration`; X.509 → `cert` (leaf + chain) and `key`, no password.
 */
export function mqttCredentials(attestation: Attestation, options: MqttCredentialsOptions): MqttCredentials {
  const resourceUri = dpsResourceUri(options.idScope, attestation.registrationId);
  if (attestation.kind === "symmetricKey") {
    return {
      password: createSasToken(resourceUri, attestation.deviceKey, {
        keyName: "registration",
        ttlSeconds: options.ttlSeconds,
        clock: options.clock,
      }),
    };
  }
  return {
    cert: [attestation.certificatePem, ...attestation.chainPem].map(withNewline).join(""),
    key: attestation.privateKeyPem,
  };
}

function withNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}
