import type { KeyObject, X509Certificate as NodeX509Certificate } from "node:crypto";
import type { X509Certificate as LibX509Certificate } from "@peculiar/x509";
import { type Clock, systemClock } from "@skittlesorter/core";
import { CsrError, describeError } from "./errors.ts";
import { type KeyType, keyTypeOf, publicKeysMatch } from "./keys.ts";
import { x509 } from "./libs.ts";
import { decodeBase64, looksLikePem, parseCertificateDer, pemBlocks, toPem } from "./pem.ts";

/** The facts about one certificate that tools and the device app look at. */
export interface CertificateFacts {
  /** The certificate as normalised PEM. */
  pem: string;
  /** e.g. `CN=device-1, O=Contoso`. */
  subject: string;
  commonName: string | undefined;
  issuer: string;
  issuerCommonName: string | undefined;
  /** Upper-case hex, as openssl prints it. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** Upper-case hex without colons. */
  sha1Thumbprint: string;
  /** Upper-case hex without colons. */
  sha256Thumbprint: string;
  keyType: KeyType | "unknown";
  /** basicConstraints cA. */
  isCa: boolean;
  /** basicConstraints pathLenConstraint, when present. */
  pathLength: number | undefined;
  /** True when subject equals issuer. */
  selfIssued: boolean;
  publicKey: KeyObject;
  subjectAltDnsNames: string[];
}

interface Parsed {
  der: Buffer;
  node: NodeX509Certificate;
  lib: LibX509Certificate;
}

function certificateDer(input: string | Uint8Array): Buffer {
  if (input instanceof Uint8Array) return Buffer.from(input);
  if (typeof input !== "string") {
    throw new CsrError("CERT_INVALID", "The certificate must be a string (PEM or base64) or DER bytes.");
  }
  if (looksLikePem(input)) {
    const first = pemBlocks(input).find((block) => block.label === "CERTIFICATE");
    if (first === undefined) {
      throw new CsrError(
        "CERT_INVALID",
        'No "CERTIFICATE" PEM block found: pass a certificate (not a key or CSR).',
      );
    }
    return first.der;
  }
  const der = decodeBase64(input);
  if (der === undefined) {
    throw new CsrError(
      "CERT_INVALID",
      "The certificate is neither PEM nor base64 DER: pass a PEM or DER certificate.",
    );
  }
  return der;
}

function parse(input: string | Uint8Array, what = "The certificate"): Parsed {
  const der = certificateDer(input);
  const node = parseCertificateDer(der, what);
  let lib: Parsed["lib"];
  try {
    lib = new (x509().X509Certificate)(new Uint8Array(der));
  } catch (error) {
    throw new CsrError("CERT_INVALID", `${what} cannot be decoded (${describeError(error)}).`, {
      cause: error,
    });
  }
  return { der, node, lib };
}

function hex(fingerprint: string): string {
  return fingerprint.replaceAll(":", "").toUpperCase();
}

function facts(parsed: Parsed): CertificateFacts {
  const { node, lib, der } = parsed;
  const constraints = lib.getExtension(x509().BasicConstraintsExtension);
  const san = lib.getExtension(x509().SubjectAlternativeNameExtension);
  let keyType: KeyType | "unknown";
  try {
    keyType = keyTypeOf(node.publicKey);
  } catch {
    keyType = "unknown";
  }
  return {
    pem: toPem(der, "CERTIFICATE"),
    subject: lib.subject,
    commonName: lib.subjectName.getField("CN")[0],
    issuer: lib.issuer,
    issuerCommonName: lib.issuerName.getField("CN")[0],
    serialNumber: node.serialNumber.toUpperCase(),
    notBefore: lib.notBefore,
    notAfter: lib.notAfter,
    sha1Thumbprint: hex(node.fingerprint),
    sha256Thumbprint: hex(node.fingerprint256),
    keyType,
    isCa: node.ca,
    pathLength: constraints?.ca ? constraints.pathLength : undefined,
    selfIssued: node.subject === node.issuer,
    publicKey: node.publicKey,
    subjectAltDnsNames:
      san?.names.items.filter((name) => name.type === "dns").map((name) => name.value) ?? [],
  };
}

/** Reads the facts of a certificate given as PEM (the first CERTIFICATE block), DER bytes or base64 DER. */
export function certificateFacts(input: string | Uint8Array): CertificateFacts {
  return facts(parse(input));
}

/** Throws `KEY_CERT_MISMATCH` unless the private (or public) key belongs to the certificate. */
export function assertKeyMatchesCertificate(key: KeyObject, certificatePem: string): void {
  const certificate = certificateFacts(certificatePem);
  if (!publicKeysMatch(key, certificate.publicKey)) {
    throw new CsrError(
      "KEY_CERT_MISMATCH",
      `The private key does not belong to the certificate "${certificate.subject}": pass the key the certificate was issued for (the key whose CSR was sent).`,
    );
  }
}

/** The outcome of {@link verifyChain}. */
export interface ChainVerification {
  valid: boolean;
  /** Each names the certificate (index and CN) and what is wrong. */
  problems: string[];
}

export interface VerifyChainOptions {
  /**
   * PEM roots to anchor the chain in. Default: the last certificate of the chain must be self-signed and
   * is trusted as the root.
   */
  trustedRoots?: readonly string[] | undefined;
  /** The time validity is checked against. Default: the system clock. */
  clock?: Clock | undefined;
}

interface Entry extends CertificateFacts {
  label: string;
  node: NodeX509Certificate;
  der: Buffer;
  keyCertSign: boolean | undefined;
}

function entry(parsed: Parsed, label: string): Entry {
  const usage = parsed.lib.getExtension(x509().KeyUsagesExtension);
  const keyCertSign = usage === null ? undefined : (usage.usages & x509().KeyUsageFlags.keyCertSign) !== 0;
  const base = facts(parsed);
  return {
    ...base,
    label: `${label} (${base.commonName ? `CN=${base.commonName}` : base.subject || "no subject"})`,
    node: parsed.node,
    der: parsed.der,
    keyCertSign,
  };
}

function signedBy(child: Entry, parent: Entry): boolean {
  try {
    return child.node.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/**
 * Verifies a chain given leaf first (PEM or base64 DER entries; a PEM entry may be a bundle):
 * every signature, that each issuer's subject matches the issuer name, validity at `clock.now()`,
 * the basicConstraints cA flag and keyCertSign on every issuer, and path length constraints. Without
 * `trustedRoots` the last certificate must be self-signed and is trusted.
 */
export function verifyChain(
  chainLeafFirst: readonly string[],
  options: VerifyChainOptions = {},
): ChainVerification {
  const problems: string[] = [];
  const now = (options.clock ?? systemClock).now();
  const chain: Entry[] = [];
  const sources: (string | Uint8Array)[] = [];
  chainLeafFirst.forEach((item, index) => {
    if (typeof item !== "string" || !looksLikePem(item)) {
      sources.push(item);
      return;
    }
    try {
      const blocks = pemBlocks(item).filter((block) => block.label === "CERTIFICATE");
      if (blocks.length === 0) problems.push(`chain entry #${index}: holds no CERTIFICATE PEM block`);
      for (const block of blocks) sources.push(block.der);
    } catch (error) {
      problems.push(`chain entry #${index}: cannot be parsed: ${describeError(error)}`);
    }
  });
  if (problems.length > 0) return { valid: false, problems };
  sources.forEach((source, index) => {
    try {
      chain.push(entry(parse(source, `Certificate #${index}`), `certificate #${index}`));
    } catch (error) {
      problems.push(`certificate #${index}: cannot be parsed: ${describeError(error)}`);
    }
  });
  if (problems.length > 0) return { valid: false, problems };
  if (chain.length === 0)
    return { valid: false, problems: ["the chain is empty: pass at least the leaf certificate"] };

  const checkValidity = (cert: Entry): void => {
    if (now < cert.notBefore.getTime()) {
      problems.push(`${cert.label}: not valid yet (valid from ${cert.notBefore.toISOString()})`);
    }
    if (now > cert.notAfter.getTime()) {
      problems.push(`${cert.label}: expired on ${cert.notAfter.toISOString()}`);
    }
  };

  // position: index of `parent` in the full path (chain followed by the anchor).
  const checkLink = (child: Entry, parent: Entry, position: number, path: readonly Entry[]): void => {
    if (child.issuer !== parent.subject) {
      problems.push(
        `${child.label}: its issuer "${child.issuer}" is not the subject of ${parent.label} ("${parent.subject}"): the chain is out of order or has a wrong issuer`,
      );
    } else if (!signedBy(child, parent)) {
      problems.push(`${child.label}: its signature does not verify with the public key of ${parent.label}`);
    }
    if (!parent.isCa) {
      problems.push(
        `${parent.label}: issues ${child.label} but is not a CA (basicConstraints cA is not set)`,
      );
    } else {
      if (parent.keyCertSign === false) {
        problems.push(`${parent.label}: issues ${child.label} but its keyUsage lacks keyCertSign`);
      }
      if (parent.pathLength !== undefined) {
        const intermediates = path.slice(1, position).filter((cert) => !cert.selfIssued).length;
        if (intermediates > parent.pathLength) {
          problems.push(
            `${parent.label}: its pathLength ${parent.pathLength} allows ${parent.pathLength} intermediate CA(s) below it but the chain has ${intermediates}`,
          );
        }
      }
    }
  };

  for (const cert of chain) checkValidity(cert);
  for (let index = 0; index + 1 < chain.length; index += 1) {
    checkLink(chain[index] as Entry, chain[index + 1] as Entry, index + 1, chain);
  }

  const last = chain[chain.length - 1] as Entry;
  if (options.trustedRoots === undefined) {
    if (!last.selfIssued || !signedBy(last, last)) {
      problems.push(
        `${last.label}: is not a self-signed root and no trusted roots were given: append the root certificate or pass trustedRoots`,
      );
    }
  } else {
    const roots: Entry[] = [];
    const rootSources = options.trustedRoots.flatMap((root, index): (string | Buffer)[] => {
      if (!looksLikePem(root)) return [root];
      try {
        return pemBlocks(root)
          .filter((block) => block.label === "CERTIFICATE")
          .map((block) => block.der);
      } catch (error) {
        problems.push(`trusted roots entry #${index}: cannot be parsed: ${describeError(error)}`);
        return [];
      }
    });
    rootSources.forEach((root, index) => {
      try {
        roots.push(entry(parse(root, `Trusted root #${index}`), `trusted root #${index}`));
      } catch (error) {
        problems.push(`trusted root #${index}: cannot be parsed: ${describeError(error)}`);
      }
    });
    const isTrusted = roots.some((root) => root.der.equals(last.der));
    if (!isTrusted) {
      const anchor = roots.find((root) => root.subject === last.issuer && signedBy(last, root));
      if (anchor === undefined) {
        problems.push(`${last.label}: is not issued by any of the trusted roots (issuer "${last.issuer}")`);
      } else {
        checkValidity(anchor);
        checkLink(last, anchor, chain.length, [...chain, anchor]);
      }
    }
  }
  return { valid: problems.length === 0, problems };
}
