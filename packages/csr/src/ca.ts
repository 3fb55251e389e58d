import { type KeyObject, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import type { Extension, X509Certificate as LibX509Certificate } from "@peculiar/x509";
import { type Clock, systemClock } from "@skittlesorter/core";
import { certificateFacts } from "./certificate.ts";
import { CsrError, describeError } from "./errors.ts";
import {
  DEFAULT_KEY_TYPE,
  defaultHashFor,
  generateKeyPair,
  type KeyPair,
  type KeyType,
  keyTypeOf,
  publicKeysMatch,
  spkiDer,
  webSigningAlgorithms,
} from "./keys.ts";
import { directlyEncodable, leafCertificateDer, subjectNameDer } from "./leaf-der.ts";
import { x509 } from "./libs.ts";
import { nodeSigningCrypto, nodeSigningKey } from "./node-signer.ts";
import { toPem } from "./pem.ts";

/** A CA that signs: its certificate and private key. */
export interface IssuerRef {
  certificatePem: string;
  privateKey: KeyObject;
}

export interface CreateCertificateAuthorityOptions {
  commonName: string;
  /** Default "ec-p384". */
  keyType?: KeyType | undefined;
  validityDays: number;
  /** basicConstraints pathLenConstraint; omitted = unlimited. */
  pathLength?: number | undefined;
  /** Signs the new CA (an intermediate); omitted = a self-signed root. */
  issuer?: IssuerRef | undefined;
  clock?: Clock | undefined;
  signal?: AbortSignal | undefined;
}

export interface IssueCertificateOptions {
  /** The subject's public key (e.g. from a CSR). */
  publicKey: KeyObject;
  commonName: string;
  issuer: IssuerRef;
  validityDays: number;
  dnsNames?: readonly string[] | undefined;
  ipAddresses?: readonly string[] | undefined;
  extendedKeyUsage?: readonly ("clientAuth" | "serverAuth")[] | undefined;
  /** Hex serial number; default 16 random bytes. */
  serialNumber?: string | undefined;
  clock?: Clock | undefined;
  /** Default: SHA-384 for a P-384 issuer key, SHA-256 otherwise. */
  hash?: "SHA-256" | "SHA-384" | undefined;
  /** Mark basicConstraints (cA false) critical. Default true; OpenSSL-made device certificates leave it non-critical. */
  criticalBasicConstraints?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** notBefore is set this far in the past to tolerate clock skew between issuer and device. */
export const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

function assertPositive(name: string, value: unknown): asserts value is number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new CsrError("INVALID_ARGUMENT", `${name} must be a positive number, got ${String(value)}.`);
  }
}

function assertCommonName(commonName: unknown): asserts commonName is string {
  if (typeof commonName !== "string" || commonName.trim() === "") {
    throw new CsrError("CSR_INVALID_SUBJECT", "commonName must be a non-empty string.");
  }
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01; // positive and without a leading zero byte
  return bytes.toString("hex");
}

function assertSerial(serial: string): string {
  if (!/^[0-9a-fA-F]{1,40}$/.test(serial) || /^0+$/.test(serial)) {
    throw new CsrError(
      "INVALID_ARGUMENT",
      `serialNumber must be 1-40 hex digits and not zero, got "${serial}".`,
    );
  }
  // An odd length or a high first bit would change the DER INTEGER's value or sign: pad with 0.
  const even = serial.length % 2 === 1 ? `0${serial}` : serial;
  return Number.parseInt(even.slice(0, 2), 16) >= 0x80 ? `00${even}` : even;
}

interface LoadedIssuer {
  certificate: LibX509Certificate;
  /** The issuer's subject Name as DER: the issuer field of what it signs. */
  subjectDer: Buffer;
  privateKey: KeyObject;
  keyType: KeyType;
  pathLength: number | undefined;
  keyId: string | undefined;
}

interface CachedIssuer {
  loaded: LoadedIssuer;
  notAfter: Date;
  subject: string;
}

// Issuers already checked and parsed, by certificate PEM: a CA signs many leaves, and parsing its certificate
// cost more than the signature. An entry is used only with the very key it was checked with.
const issuerCache = new Map<string, CachedIssuer>();
const ISSUER_CACHE_SIZE = 32;

function loadIssuer(issuer: IssuerRef, clockNow: number): LoadedIssuer {
  const cached = issuerCache.get(issuer.certificatePem);
  const usable =
    cached !== undefined &&
    (cached.loaded.privateKey === issuer.privateKey || cached.loaded.privateKey.equals(issuer.privateKey));
  const entry = usable ? cached : parseIssuer(issuer);
  if (!usable) {
    if (issuerCache.size >= ISSUER_CACHE_SIZE) issuerCache.delete(issuerCache.keys().next().value as string);
    issuerCache.set(issuer.certificatePem, entry);
  }
  if (clockNow > entry.notAfter.getTime()) {
    throw new CsrError(
      "ISSUER_INVALID",
      `the issuer "${entry.subject}" expired on ${entry.notAfter.toISOString()}: renew the CA first.`,
    );
  }
  return entry.loaded;
}

function parseIssuer(issuer: IssuerRef): CachedIssuer {
  const facts = certificateFacts(issuer.certificatePem);
  const label = `the issuer "${facts.subject}"`;
  if (!facts.isCa) {
    throw new CsrError(
      "ISSUER_INVALID",
      `${label} is not a CA (basicConstraints cA is not set): use a CA certificate.`,
    );
  }
  if (issuer.privateKey.type !== "private" || !publicKeysMatch(issuer.privateKey, facts.publicKey)) {
    throw new CsrError(
      "ISSUER_INVALID",
      `The issuer private key does not belong to ${label}: pass its own key.`,
    );
  }
  const certificate = new (x509().X509Certificate)(facts.pem);
  const ski = certificate.getExtension(x509().SubjectKeyIdentifierExtension);
  return {
    loaded: {
      certificate,
      subjectDer: subjectNameDer(new Uint8Array(certificate.rawData)),
      privateKey: issuer.privateKey,
      keyType: keyTypeOf(issuer.privateKey),
      pathLength: facts.pathLength,
      keyId: ski?.keyId,
    },
    notAfter: facts.notAfter,
    subject: facts.subject,
  };
}

async function sign(options: {
  subject: string;
  subjectPublicKey: KeyObject;
  issuer: LoadedIssuer | { self: KeyPair };
  validityDays: number;
  serialNumber: string;
  extensions: Extension[];
  hash: "SHA-256" | "SHA-384" | undefined;
  clock: Clock;
}): Promise<string> {
  const lib = x509();
  const crypto = nodeSigningCrypto;
  const signer = "self" in options.issuer ? options.issuer.self.privateKey : options.issuer.privateKey;
  const signerType = keyTypeOf(signer);
  const hash = options.hash ?? defaultHashFor(signerType);
  const { signingAlgorithm } = webSigningAlgorithms(signerType, hash);
  const signingKey = nodeSigningKey(signer, hash);
  const publicKey = new Uint8Array(spkiDer(options.subjectPublicKey));
  const now = options.clock.now();
  const authorityKeyId =
    "self" in options.issuer
      ? undefined
      : (options.issuer.keyId ??
        (
          await lib.SubjectKeyIdentifierExtension.create(
            options.issuer.certificate.publicKey.rawData,
            false,
            crypto,
          )
        ).keyId);
  const subjectKeyId = await lib.SubjectKeyIdentifierExtension.create(publicKey, false, crypto);
  const extensions = [
    ...options.extensions,
    subjectKeyId,
    new lib.AuthorityKeyIdentifierExtension(authorityKeyId ?? subjectKeyId.keyId, false),
  ];
  const name = [{ CN: [options.subject] }];
  try {
    const certificate = await lib.X509CertificateGenerator.create(
      {
        serialNumber: options.serialNumber,
        subject: name,
        issuer: "self" in options.issuer ? name : options.issuer.certificate.subjectName,
        notBefore: new Date(now - BACKDATE_MS),
        notAfter: new Date(now + options.validityDays * DAY_MS),
        publicKey,
        signingKey,
        signingAlgorithm,
        extensions,
      },
      crypto,
    );
    return toPem(new Uint8Array(certificate.rawData), "CERTIFICATE");
  } catch (error) {
    throw new CsrError("ISSUER_INVALID", `Could not sign the certificate (${describeError(error)}).`, {
      cause: error,
    });
  }
}

/**
 * Creates a CA certificate and key: a self-signed root when no `issuer` is given, else an intermediate
 * signed by it. basicConstraints (critical) cA with the optional pathLength, keyUsage (critical)
 * keyCertSign + cRLSign, subject and authority key identifiers.
 */
export async function createCertificateAuthority(
  options: CreateCertificateAuthorityOptions,
): Promise<{ certificatePem: string; privateKey: KeyObject; keyPair: KeyPair }> {
  options.signal?.throwIfAborted();
  assertCommonName(options.commonName);
  assertPositive("validityDays", options.validityDays);
  if (options.pathLength !== undefined && (!Number.isInteger(options.pathLength) || options.pathLength < 0)) {
    throw new CsrError(
      "INVALID_ARGUMENT",
      `pathLength must be an integer >= 0, got ${String(options.pathLength)}.`,
    );
  }
  const clock = options.clock ?? systemClock;
  const issuer = options.issuer === undefined ? undefined : loadIssuer(options.issuer, clock.now());
  if (issuer?.pathLength === 0) {
    throw new CsrError(
      "ISSUER_INVALID",
      `The issuer "${issuer.certificate.subject}" has pathLength 0 and cannot sign another CA: issue from a CA higher up.`,
    );
  }
  const keyPair = await generateKeyPair(options.keyType ?? DEFAULT_KEY_TYPE, { signal: options.signal });
  const lib = x509();
  const certificatePem = await sign({
    subject: options.commonName,
    subjectPublicKey: keyPair.publicKey,
    issuer: issuer ?? { self: keyPair },
    validityDays: options.validityDays,
    serialNumber: randomSerial(),
    extensions: [
      new lib.BasicConstraintsExtension(true, options.pathLength, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
    ],
    hash: undefined,
    clock,
  });
  options.signal?.throwIfAborted();
  return { certificatePem, privateKey: keyPair.privateKey, keyPair };
}

/**
 * Issues an end-entity certificate for `publicKey`: basicConstraints cA false, keyUsage
 * digitalSignature (+ keyEncipherment for RSA keys), optional extendedKeyUsage and subjectAltName
 * (DNS / IP), subject and authority key identifiers. An ECDSA P-384 issuer signs with SHA-384.
 */
export async function issueCertificate(options: IssueCertificateOptions): Promise<string> {
  return issueLeaf(options, { direct: true });
}

/** {@link issueCertificate}; with `direct: false` always through @peculiar/x509 (tests compare the two). */
export async function issueLeaf(options: IssueCertificateOptions, how: { direct: boolean }): Promise<string> {
  const issued = await issueLeafDer(options, how);
  return "pem" in issued ? issued.pem : toPem(issued.der, "CERTIFICATE");
}

/** A leaf encoded directly (its DER and the fields it was built from), or the PEM @peculiar/x509 made. */
export type IssuedLeaf =
  | { der: Buffer; serialHex: string; commonName: string; notBefore: Date; notAfter: Date }
  | { pem: string };

/** Issues the leaf of {@link issueLeaf}, keeping what a caller would otherwise parse back out of it. */
export async function issueLeafDer(
  options: IssueCertificateOptions,
  how: { direct: boolean },
): Promise<IssuedLeaf> {
  options.signal?.throwIfAborted();
  assertCommonName(options.commonName);
  assertPositive("validityDays", options.validityDays);
  const clock = options.clock ?? systemClock;
  const issuer = loadIssuer(options.issuer, clock.now());
  const subjectKeyType = (() => {
    try {
      return keyTypeOf(options.publicKey);
    } catch (error) {
      throw new CsrError("CSR_UNSUPPORTED_KEY_TYPE", describeError(error), { cause: error });
    }
  })();
  const leaf = {
    commonName: options.commonName,
    dnsNames: options.dnsNames ?? [],
    ipAddresses: options.ipAddresses ?? [],
  };
  for (const value of leaf.ipAddresses) {
    if (isIP(value) === 0) {
      throw new CsrError("INVALID_ARGUMENT", `ipAddresses entry "${value}" is not an IPv4 or IPv6 address.`);
    }
  }
  const serialNumber =
    options.serialNumber === undefined ? randomSerial() : assertSerial(options.serialNumber);
  if (how.direct && issuer.keyId !== undefined && directlyEncodable(leaf)) {
    const now = clock.now();
    let der: Buffer;
    const notBefore = new Date(now - BACKDATE_MS);
    const notAfter = new Date(now + options.validityDays * DAY_MS);
    try {
      der = leafCertificateDer({
        ...leaf,
        serialNumber,
        issuerName: issuer.subjectDer,
        issuerKeyId: Buffer.from(issuer.keyId, "hex"),
        issuerKey: issuer.privateKey,
        signature: issuer.keyType.startsWith("rsa-") ? "RSA" : "ECDSA",
        hash: options.hash ?? defaultHashFor(issuer.keyType),
        notBefore,
        notAfter,
        subjectSpki: spkiDer(options.publicKey),
        criticalBasicConstraints: options.criticalBasicConstraints ?? true,
        keyEncipherment: subjectKeyType.startsWith("rsa-"),
        extendedKeyUsage: options.extendedKeyUsage ?? [],
      });
    } catch (error) {
      throw new CsrError("ISSUER_INVALID", `Could not sign the certificate (${describeError(error)}).`, {
        cause: error,
      });
    }
    options.signal?.throwIfAborted();
    return { der, serialHex: serialNumber, commonName: options.commonName, notBefore, notAfter };
  }
  const pem = await sign({
    subject: options.commonName,
    subjectPublicKey: options.publicKey,
    issuer,
    validityDays: options.validityDays,
    serialNumber,
    extensions: leafExtensions(options, subjectKeyType),
    hash: options.hash,
    clock,
  });
  options.signal?.throwIfAborted();
  return { pem };
}

/** The end-entity extensions as @peculiar/x509 objects (subject and authority key identifiers are added later). */
function leafExtensions(options: IssueCertificateOptions, subjectKeyType: KeyType): Extension[] {
  const lib = x509();
  const usages = subjectKeyType.startsWith("rsa-")
    ? lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment
    : lib.KeyUsageFlags.digitalSignature;
  const extensions: Extension[] = [
    new lib.BasicConstraintsExtension(false, undefined, options.criticalBasicConstraints ?? true),
    new lib.KeyUsagesExtension(usages, true),
  ];
  if (options.extendedKeyUsage !== undefined && options.extendedKeyUsage.length > 0) {
    extensions.push(
      new lib.ExtendedKeyUsageExtension(
        options.extendedKeyUsage.map((usage) => lib.ExtendedKeyUsage[usage]),
        false,
      ),
    );
  }
  const altNames = [
    ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  if (altNames.length > 0) extensions.push(new lib.SubjectAlternativeNameExtension(altNames, false));
  return extensions;
}
