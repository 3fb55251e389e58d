// X.509 facts the DPS attestation and the hub's authentication both read from certificates.
import type { X509Certificate } from "node:crypto";

export interface X509CertificateInfo {
  subjectName: string;
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  issuerName: string;
  notBeforeUtc: string;
  notAfterUtc: string;
  serialNumber: string;
  version: number;
}

/** The subject CN, if any. */
export function commonNameOf(certificate: X509Certificate): string | undefined {
  for (const line of certificate.subject.split("\n")) {
    if (line.startsWith("CN=")) return line.slice(3);
  }
  return undefined;
}

/** `AB:CD:…` fingerprint → `ABCD…` (uppercase hex, as DPS and IoT Hub write thumbprints). */
export function hex(fingerprint: string): string {
  return fingerprint.replaceAll(":", "").toUpperCase();
}

function oneLine(name: string): string {
  return name.split("\n").reverse().join(", ");
}

export function certificateInfo(certificate: X509Certificate): X509CertificateInfo {
  return {
    subjectName: oneLine(certificate.subject),
    sha1Thumbprint: hex(certificate.fingerprint),
    sha256Thumbprint: hex(certificate.fingerprint256),
    issuerName: oneLine(certificate.issuer),
    notBeforeUtc: new Date(certificate.validFrom).toISOString(),
    notAfterUtc: new Date(certificate.validTo).toISOString(),
    serialNumber: certificate.serialNumber.toUpperCase(),
    version: 3,
  };
}

/** Whether `parent` is a CA that issued and signed `child`. */
export function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** Whether `now` (epoch ms) lies in the certificate's validity period. */
export function withinValidity(certificate: X509Certificate, now: number): boolean {
  return Date.parse(certificate.validFrom) <= now && now <= Date.parse(certificate.validTo);
}
