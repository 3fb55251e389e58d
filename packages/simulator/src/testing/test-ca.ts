// A CA that test code owns, uploaded to a simulator and verified (proof of possession), with an X.509
// enrollment group on it: what a test needs before a device can provision with an X.509 certificate.
import type { KeyObject } from "node:crypto";
import { createCertificateAuthority, generateKeyPair, issueCertificate } from "@skittlesorter/csr";
import type { AdminClient } from "../admin/client.ts";

export const TEST_CA_NAME = "skittle-sim-testing-ca";
export const TEST_X509_GROUP = "skittle-sim-testing-x509";

export interface TestCa {
  certificatePem: string;
  privateKey: KeyObject;
}

/** Each simulator's test CA, created on first use. */
const cas = new WeakMap<AdminClient, Promise<TestCa>>();

async function uploadAndVerify(admin: AdminClient, signal: AbortSignal | undefined): Promise<TestCa> {
  const ca = await createCertificateAuthority({
    commonName: "skittle-sim testing CA",
    keyType: "ec-p256",
    validityDays: 30,
    pathLength: 0,
    signal,
  });
  const uploaded = await admin.putCaCertificate(TEST_CA_NAME, ca.certificatePem, { signal });
  const pending = await admin.generateVerificationCode(TEST_CA_NAME, uploaded.etag, { signal });
  const verificationCode = pending.properties.verificationCode ?? "";
  const proofKey = await generateKeyPair("ec-p256");
  const proof = await issueCertificate({
    publicKey: proofKey.publicKey,
    commonName: verificationCode,
    issuer: { certificatePem: ca.certificatePem, privateKey: ca.privateKey },
    validityDays: 1,
    signal,
  });
  await admin.verifyCaCertificate(TEST_CA_NAME, pending.etag, proof, { signal });
  await admin.putEnrollment(
    "group",
    TEST_X509_GROUP,
    { attestation: { type: "x509", caName: TEST_CA_NAME }, credentialPolicy: "default" },
    { signal },
  );
  return { certificatePem: ca.certificatePem, privateKey: ca.privateKey };
}

/** The simulator's verified test CA and its X.509 enrollment group, created on the first call. */
export function testCa(admin: AdminClient, signal?: AbortSignal): Promise<TestCa> {
  let ca = cas.get(admin);
  if (ca === undefined) {
    ca = uploadAndVerify(admin, signal);
    ca.catch(() => cas.delete(admin));
    cas.set(admin, ca);
  }
  return ca;
}
