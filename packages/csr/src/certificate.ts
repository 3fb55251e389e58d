import type { KeyObject, X509Certificate as NodeX509Certificate } from "node:crypto";
import type { X509Certificate as LibX509Certificate } from "@peculiar/x509";
import { type Clock, systemClock } from "@skittlesorter/core";
import { caExtensionFacts } from "./ca-extensions.ts";
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
}

/** What @peculiar/x509 adds to node:crypto's view: the exact subject and issuer, pathLength, keyUsage, SAN. */
interface NameAndExtensionFacts {
  subject: string;
  commonName: string | undefined;
  issuer: string;
  issuerCommonName: string | undefined;
  notBefore: Date;
  notAfter: Date;
  pathLength: number | undefined;
  subjectAltDnsNames: string[];
  keyCertSign: boolean | undefined;
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
  return { der, node: parseCertificateDer(der, what) };
}

function hex(fingerprint: string): string {
  return fingerprint.replaceAll(":", "").toUpperCase();
}

// One attribute per line, as node:crypto prints a name, in the plain form @peculiar/x509 would print unchanged.
const PLAIN_NAME_LINE = /^(CN|O|OU|C|L|ST|DC)=([A-Za-z0-9_.@:/()' -]*)$/;

/** `CN=a, O=b` and its CN from node:crypto's multi-line name, or undefined when it needs escaping. */
function plainName(multiline: string): { text: string; commonName: string | undefined } | undefined {
  const lines = multiline.split("\n");
  let commonName: string | undefined;
  for (const line of lines) {
    const match = PLAIN_NAME_LINE.exec(line);
    const value = match?.[2];
    if (value === undefined || value.trim() !== value || value === "") return undefined;
    if (match?.[1] === "CN") commonName ??= value;
  }
  return { text: lines.join(", "), commonName };
}

/**
 * The facts of a certificate from node:crypto alone (no ASN.1 decoding in JavaScript), or undefined when its
 * names or SAN need the full decoder. A CA's path length and keyCertSign are read from its `der`; without it, CAs
 * are left to the full decoder too.
 */
export function nodeFacts(node: NodeX509Certificate, der?: Uint8Array): NameAndExtensionFacts | undefined {
  const ca = node.ca ? (der === undefined ? undefined : caExtensionFacts(der)) : NOT_A_CA;
  if (ca === undefined) return undefined;
  const subject = plainName(node.subject);
  const issuer = plainName(node.issuer);
  const san = node.subjectAltName;
  if (subject === undefined || issuer === undefined || san?.includes('"') || san?.includes("\\")) {
    return undefined;
  }
  const notBefore = new Date(node.validFrom);
  const notAfter = new Date(node.validTo);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) return undefined;
  return {
    subject: subject.text,
    commonName: subject.commonName,
    issuer: issuer.text,
    issuerCommonName: issuer.commonName,
    notBefore,
    notAfter,
    pathLength: ca.pathLength,
    subjectAltDnsNames: (san?.split(", ") ?? [])
      .filter((name) => name.startsWith("DNS:"))
      .map((name) => name.slice(4)),
    keyCertSign: ca.keyCertSign,
  };
}

// keyCertSign is read only for issuers, so an end-entity certificate's is left out.
const NOT_A_CA = { pathLength: undefined, keyCertSign: undefined } as const;

export function libFacts(der: Buffer, what: string): NameAndExtensionFacts {
  let lib: LibX509Certificate;
  try {
    lib = new (x509().X509Certificate)(new Uint8Array(der));
  } catch (error) {
    throw new CsrError("CERT_INVALID", `${what} cannot be decoded (${describeError(error)}).`, {
      cause: error,
    });
  }
  const constraints = lib.getExtension(x509().BasicConstraintsExtension);
  const san = lib.getExtension(x509().SubjectAlternativeNameExtension);
  const usage = lib.getExtension(x509().KeyUsagesExtension);
  return {
    subject: lib.subject,
    commonName: lib.subjectName.getField("CN")[0],
    issuer: lib.issuer,
    issuerCommonName: lib.issuerName.getField("CN")[0],
    notBefore: lib.notBefore,
    notAfter: lib.notAfter,
    pathLength: constraints?.ca ? constraints.pathLength : undefined,
    subjectAltDnsNames:
      san?.names.items.filter((name) => name.type === "dns").map((name) => name.value) ?? [],
    keyCertSign: usage === null ? undefined : (usage.usages & x509().KeyUsageFlags.keyCertSign) !== 0,
  };
}

// CA certificates are few and checked again and again (every issued chain ends in the same two): their
// decoded facts are kept by SHA-256 fingerprint.
const decodedCache = new Map<string, NameAndExtensionFacts>();
const DECODED_CACHE_SIZE = 64;

function decodedFacts(parsed: Parsed, what: string): NameAndExtensionFacts {
  const fast = nodeFacts(parsed.node, parsed.der);
  if (fast !== undefined) return fast;
  const key = parsed.node.fingerprint256;
  let decoded = decodedCache.get(key);
  if (decoded === undefined) {
    decoded = libFacts(parsed.der, what);
    if (decodedCache.size >= DECODED_CACHE_SIZE)
      decodedCache.delete(decodedCache.keys().next().value as string);
    decodedCache.set(key, decoded);
  }
  return {
    ...decoded,
    notBefore: new Date(decoded.notBefore),
    notAfter: new Date(decoded.notAfter),
    subjectAltDnsNames: [...decoded.subjectAltDnsNames],
  };
}

function facts(
  parsed: Parsed,
  what = "The certificate",
): CertificateFacts & { keyCertSign: boolean | undefined } {
  const { node, der } = parsed;
  let keyType: KeyType | "unknown";
  try {
    keyType = keyTypeOf(node.publicKey);
  } catch {
    keyType = "unknown";
  }
  const { keyCertSign, ...decoded } = decodedFacts(parsed, what);
  return {
    pem: toPem(der, "CERTIFICATE"),
    ...decoded,
    serialNumber: node.serialNumber.toUpperCase(),
    sha1Thumbprint: hex(node.fingerprint),
    sha256Thumbprint: hex(node.fingerprint256),
    keyType,
    isCa: node.ca,
    selfIssued: node.subject === node.issuer,
    publicKey: node.publicKey,
    keyCertSign,
  };
}

/** Reads the facts of a certificate given as PEM (the first CERTIFICATE block), DER bytes or base64 DER. */
export function certificateFacts(input: string | Uint8Array): CertificateFacts {
  const { keyCertSign: _, ...result } = facts(parse(input));
  return result;
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

function entry(parsed: Parsed, label: string, what: string): Entry {
  const base = facts(parsed, what);
  return {
    ...base,
    label: `${label} (${base.commonName ? `CN=${base.commonName}` : base.subject || "no subject"})`,
    node: parsed.node,
    der: parsed.der,
  };
}

// CA certificates signed by their issuer, as "child SHA-256|issuer SHA-256": every issued chain repeats the same
// issuing CA and root, whose signatures need verifying once per process, not once per chain.
const verifiedCaLinks = new Set<string>();
const VERIFIED_CA_LINKS_SIZE = 64;

function signedBy(child: Entry, parent: Entry): boolean {
  const link = child.isCa ? `${child.node.fingerprint256}|${parent.node.fingerprint256}` : undefined;
  if (link !== undefined && verifiedCaLinks.has(link)) return true;
  let valid: boolean;
  try {
    valid = child.node.verify(parent.publicKey);
  } catch {
    valid = false;
  }
  if (valid && link !== undefined) {
    if (verifiedCaLinks.size >= VERIFIED_CA_LINKS_SIZE)
      verifiedCaLinks.delete(verifiedCaLinks.values().next().value as string);
    verifiedCaLinks.add(link);
  }
  return valid;
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
      chain.push(
        entry(parse(source, `Certificate #${index}`), `certificate #${index}`, `Certificate #${index}`),
      );
    } catch (error) {
      problems.push(`certificate #${index}: cannot be parsed: ${describeError(error)}`);
    }
  });
  if (problems.length > 0) return { valid: false, problems };
  if (chain.length === 0)
    return { valid: false, problems: ["the chain is empty: pass at least the leaf certificate"] };

  let roots: Entry[] | undefined;
  if (options.trustedRoots !== undefined) {
    roots = [];
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
        roots?.push(
          entry(parse(root, `Trusted root #${index}`), `trusted root #${index}`, `Trusted root #${index}`),
        );
      } catch (error) {
        problems.push(`trusted root #${index}: cannot be parsed: ${describeError(error)}`);
      }
    });
  }
  problems.push(...checkEntries(chain, roots, now));
  return { valid: problems.length === 0, problems };
}

/** The problems of a decoded chain (leaf first), anchored in `roots`, or in its self-signed last certificate. */
function checkEntries(chain: readonly Entry[], roots: readonly Entry[] | undefined, now: number): string[] {
  const problems: string[] = [];
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
  if (roots === undefined) {
    if (!last.selfIssued || !signedBy(last, last)) {
      problems.push(
        `${last.label}: is not a self-signed root and no trusted roots were given: append the root certificate or pass trustedRoots`,
      );
    }
    return problems;
  }
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
  return problems;
}

/**
 * What `verifyChain(pems, { trustedRoots: [last] })` checks, for certificates already decoded (leaf first), with
 * each certificate's facts: every certificate is parsed once.
 */
export function verifyDecodedChain(
  decoded: readonly { der: Buffer; node: NodeX509Certificate }[],
  now: number,
): { certificates: CertificateFacts[]; problems: string[] } {
  const chain = decoded.map((parsed, index) =>
    entry(parsed, `certificate #${index}`, `Certificate #${index}`),
  );
  const certificates = chain.map(
    ({ label: _label, node: _node, der: _der, keyCertSign: _keyCertSign, ...facts }) => facts,
  );
  const last = chain[chain.length - 1];
  return { certificates, problems: last === undefined ? [] : checkEntries(chain, [last], now) };
}
