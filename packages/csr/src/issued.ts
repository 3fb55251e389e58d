// An issued leaf together with the facts a CA records about it (serial, thumbprints, validity), taken from the
// issuance itself: parsing the certificate just made again cost as much as a third of signing it.
import { createHash } from "node:crypto";
import { type IssueCertificateOptions, issueLeafDer } from "./ca.ts";
import { type CertificateFacts, certificateFacts } from "./certificate.ts";
import { pemBlocks, toPem, toWire } from "./pem.ts";

/** What a CA keeps about a certificate it issued; the same values {@link certificateFacts} reads from it. */
export type IssuedCertificateFacts = Pick<
  CertificateFacts,
  "subject" | "commonName" | "serialNumber" | "notBefore" | "notAfter" | "sha1Thumbprint" | "sha256Thumbprint"
>;

/** A certificate {@link issueCertificateWithFacts} made: PEM, DER, the DPS wire form, and its facts. */
export interface IssuedCertificate {
  pem: string;
  der: Buffer;
  /** Base64 DER: one entry of DPS `issuedCertificateChain`. */
  wire: string;
  facts: IssuedCertificateFacts;
}

// A CN node:crypto prints unchanged (so certificateFacts reports it as `CN=<value>` without a decoder).
const PLAIN_COMMON_NAME = /^[A-Za-z0-9_.@:/()'-](?:[A-Za-z0-9_.@:/()' -]*[A-Za-z0-9_.@:/()'-])?$/;

/**
 * {@link issueCertificate}, also returning the certificate's DER, wire form and facts without parsing it again.
 * The facts equal `certificateFacts(pem)` for the same certificate.
 */
export async function issueCertificateWithFacts(
  options: IssueCertificateOptions,
): Promise<IssuedCertificate> {
  const issued = await issueLeafDer(options, { direct: true });
  if ("pem" in issued || !PLAIN_COMMON_NAME.test(issued.commonName)) {
    const pem = "pem" in issued ? issued.pem : toPem(issued.der, "CERTIFICATE");
    const der = "pem" in issued ? (pemBlocks(pem)[0]?.der ?? Buffer.alloc(0)) : issued.der;
    const { subject, commonName, serialNumber, notBefore, notAfter, sha1Thumbprint, sha256Thumbprint } =
      certificateFacts(der);
    const facts = {
      subject,
      commonName,
      serialNumber,
      notBefore,
      notAfter,
      sha1Thumbprint,
      sha256Thumbprint,
    };
    return { pem, der, wire: toWire(der), facts };
  }
  const { der } = issued;
  return {
    pem: toPem(der, "CERTIFICATE"),
    der,
    wire: toWire(der),
    facts: {
      subject: `CN=${issued.commonName}`,
      commonName: issued.commonName,
      serialNumber: integerHex(issued.serialHex),
      // DER times carry whole seconds.
      notBefore: wholeSeconds(issued.notBefore),
      notAfter: wholeSeconds(issued.notAfter),
      sha1Thumbprint: createHash("sha1").update(der).digest("hex").toUpperCase(),
      sha256Thumbprint: createHash("sha256").update(der).digest("hex").toUpperCase(),
    },
  };
}

/** The serial as node:crypto prints it: upper-case hex of the integer's bytes, without leading zero bytes. */
function integerHex(hex: string): string {
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  const trimmed = even.replace(/^(?:00)+(?=..)/, "");
  return trimmed.toUpperCase();
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
