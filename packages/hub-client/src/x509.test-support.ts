import {
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  privateKeyToPem,
} from "@skittlesorter/csr";

/** A device certificate for `commonName` from a throwaway root no hub trusts, with its key (PEM). */
export async function throwawayDeviceCertificate(
  commonName: string,
): Promise<{ certificatePem: string; privateKeyPem: string }> {
  const root = await createCertificateAuthority({
    commonName: "Throwaway Root",
    validityDays: 1,
    keyType: "ec-p256",
  });
  const keys = await generateKeyPair("ec-p256");
  const certificatePem = await issueCertificate({
    publicKey: keys.publicKey,
    commonName,
    issuer: { certificatePem: root.certificatePem, privateKey: root.privateKey },
    validityDays: 1,
    extendedKeyUsage: ["clientAuth"],
  });
  return { certificatePem, privateKeyPem: privateKeyToPem(keys.privateKey) };
}
