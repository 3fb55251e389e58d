// What an assignment creates: the device's identity in the hub, and its certificate when it sent a CSR.
import type { Clock } from "@skittlesorter/core";
import { type CsrInfo, issueCertificateWithFacts } from "@skittlesorter/csr";
import { azureTimestamp } from "../azure-time.ts";
import type { AdrPolicy, HubDevice, IssuedCertificate, LinkedHub } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import type { KeyVault } from "../state/vault.ts";
import type { Attested } from "./attest.ts";
import { caCertificateWire } from "./chain-wire.ts";

/** The hub device identity an assignment creates (or refreshes): how it will authenticate to the hub. */
export function hubDeviceFor(
  existing: HubDevice | undefined,
  hub: LinkedHub,
  deviceId: string,
  registrationId: string,
  attested: Attested,
  issuedThumbprint: string | undefined,
  nowIso: string,
): HubDevice {
  let authentication: HubDevice["authentication"];
  if (issuedThumbprint !== undefined || (attested.type === "x509" && attested.enrollment.kind === "group")) {
    authentication = { type: "certificateAuthority" };
  } else if (attested.type === "x509") {
    authentication = {
      type: "selfSigned",
      primaryThumbprint: attested.leafThumbprints?.sha1 ?? "",
    };
  } else {
    authentication = {
      type: "sas",
      primaryKey: attested.deviceKeys?.primaryKey ?? "",
      secondaryKey: attested.deviceKeys?.secondaryKey ?? "",
    };
  }
  const device: HubDevice = {
    // What the hub's service API set (status reason, …) survives a new registration.
    ...existing,
    hub: hub.name,
    deviceId,
    registrationId,
    status: existing?.status ?? "enabled",
    authentication,
    created: existing?.created ?? nowIso,
    updated: nowIso,
  };
  const thumbprint = issuedThumbprint ?? existing?.issuedCertificateThumbprint;
  if (thumbprint !== undefined) device.issuedCertificateThumbprint = thumbprint;
  return device;
}

/** A certificate issued from a credential policy: its wire chain, and the record and event that store it. */
export interface PolicyIssuance {
  chain: string[];
  serialNumber: string;
  sha256Thumbprint: string;
  record: IssuedCertificate;
  event: { at: string; details: Record<string, unknown> };
}

/**
 * Issues a device certificate for `csr` from the credential policy's CA; records it. Resolves to the wire chain.
 * `commonName` defaults to the registration id (DPS); `via` names who asked in the audit event (default DPS).
 */
export async function issueFromPolicy(
  context: { store: Store; clock: Clock; keys: KeyVault },
  policy: AdrPolicy,
  csr: CsrInfo,
  registrationId: string,
  deviceId: string,
  options: { commonName?: string | undefined; via?: "dps" | "hub" | undefined } = {},
): Promise<{ chain: string[]; serialNumber: string; sha256Thumbprint: string }> {
  const issuance = await signFromPolicy(context, policy, csr, registrationId, deviceId, options);
  context.store.transaction(() => recordIssuance(context.store, issuance));
  const { chain, serialNumber, sha256Thumbprint } = issuance;
  return { chain, serialNumber, sha256Thumbprint };
}

/**
 * {@link issueFromPolicy} without storing anything: the caller stores the issuance with {@link recordIssuance},
 * in the same transaction as the rest of what it answers. The leaf's facts come from issuing it, not parsing it.
 */
export async function signFromPolicy(
  context: { store: Store; clock: Clock; keys: KeyVault },
  policy: AdrPolicy,
  csr: CsrInfo,
  registrationId: string,
  deviceId: string,
  options: { commonName?: string | undefined; via?: "dps" | "hub" | undefined } = {},
): Promise<PolicyIssuance> {
  const { store, clock } = context;
  const namespace = store.getMeta<{ rootCaPem: string }>("adrNamespace");
  if (namespace === undefined) throw new Error("ADR namespace missing from the store");
  const privateKey = await context.keys.key(policy.keyFile);
  const { pem, wire, facts } = await issueCertificateWithFacts({
    publicKey: csr.publicKey,
    commonName: options.commonName ?? registrationId,
    issuer: { certificatePem: policy.issuingCaPem, privateKey },
    validityDays: policy.validityDays,
    extendedKeyUsage: ["clientAuth"],
    hash: "SHA-384",
    clock,
  });
  const at = azureTimestamp(clock.now());
  return {
    chain: [wire, caCertificateWire(policy.issuingCaPem), caCertificateWire(namespace.rootCaPem)],
    serialNumber: facts.serialNumber,
    sha256Thumbprint: facts.sha256Thumbprint,
    record: {
      serialNumber: facts.serialNumber,
      registrationId,
      deviceId,
      policy: policy.name,
      subject: facts.subject,
      sha1Thumbprint: facts.sha1Thumbprint,
      sha256Thumbprint: facts.sha256Thumbprint,
      notBefore: facts.notBefore.toISOString(),
      notAfter: facts.notAfter.toISOString(),
      keyType: csr.keyType,
      certificatePem: pem,
      created: at,
    },
    event: {
      at,
      details: {
        serialNumber: facts.serialNumber,
        policy: policy.name,
        keyType: csr.keyType,
        notAfter: facts.notAfter.toISOString(),
        via: options.via ?? "dps",
      },
    },
  };
}

/** Stores an issued certificate and its audit event (call inside a transaction). */
export function recordIssuance(store: Store, issuance: PolicyIssuance): void {
  store.addIssuedCertificate(issuance.record);
  store.addEvent(
    issuance.event.at,
    "certificate.issued",
    issuance.record.registrationId,
    issuance.event.details,
  );
}
