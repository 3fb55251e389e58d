import type { CertificateFacts } from "@skittlesorter/csr";

/** A certificate as the `skittle pki` commands report it. */
export interface PkiCertificateSummary {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  keyType: string;
  isCa: boolean;
  pathLength: number | null;
  subjectAltDnsNames: string[];
  sha1Thumbprint: string;
  sha256Thumbprint: string;
}

export function summary(facts: CertificateFacts): PkiCertificateSummary {
  return {
    subject: facts.subject,
    issuer: facts.issuer,
    serialNumber: facts.serialNumber,
    notBefore: facts.notBefore.toISOString(),
    notAfter: facts.notAfter.toISOString(),
    keyType: facts.keyType,
    isCa: facts.isCa,
    pathLength: facts.pathLength ?? null,
    subjectAltDnsNames: facts.subjectAltDnsNames,
    sha1Thumbprint: facts.sha1Thumbprint,
    sha256Thumbprint: facts.sha256Thumbprint,
  };
}
