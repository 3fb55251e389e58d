// What an assignment creates: the device's identity in the hub, and its certificate when it sent a CSR.
import type { Clock } from "@skittlesorter/core";
import { type CsrInfo, certificateFacts, certificateToWire, issueCertificate } from "@skittlesorter/csr";
import { azureTimestamp } from "../azure-time.ts";
import type { AdrPolicy, HubDevice, LinkedHub } from "../state/model.ts";
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
  const { store, clock } = context;
  const namespace = store.getMeta<{ rootCaPem: string }>("adrNamespace");
  if (namespace === undefined) throw new Error("ADR namespace missing from the store");
  const privateKey = await context.keys.key(policy.keyFile);
  const leafPem = await issueCertificate({
    publicKey: csr.publicKey,
    commonName: options.commonName ?? registrationId,
    issuer: { certificatePem: policy.issuingCaPem, privateKey },
    validityDays: policy.validityDays,
    extendedKeyUsage: ["clientAuth"],
    hash: "SHA-384",
    clock,
  });
  const facts = certificateFacts(leafPem);
  store.addIssuedCertificate({
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
    certificatePem: facts.pem,
    created: azureTimestamp(clock.now()),
  });
  store.addEvent(azureTimestamp(clock.now()), "certificate.issued", registrationId, {
    serialNumber: facts.serialNumber,
    policy: policy.name,
    keyType: csr.keyType,
    notAfter: facts.notAfter.toISOString(),
    via: options.via ?? "dps",
  });
  return {
    chain: [
      certificateToWire(facts.pem),
      caCertificateWire(policy.issuingCaPem),
      caCertificateWire(namespace.rootCaPem),
    ],
    serialNumber: facts.serialNumber,
    sha256Thumbprint: facts.sha256Thumbprint,
  };
}
