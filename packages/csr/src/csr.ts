import { createPublicKey, type KeyObject, verify } from "node:crypto";
import type * as Forge from "node-forge";
import { directlyEncodableCsr, ecCsrDer } from "./csr-build.ts";
import { parseCsrDer } from "./csr-der.ts";
import { plainCsrFields } from "./csr-fields.ts";
import { signedPart } from "./der.ts";
import { CsrError, describeError } from "./errors.ts";
import {
  checkKeyPair,
  defaultHashFor,
  type KeyPair,
  type KeyType,
  keyTypeOf,
  privateKeyToPem,
  publicKeysMatch,
  publicKeyToPem,
  rememberSpki,
  spkiDer,
  webSigningAlgorithms,
} from "./keys.ts";
import { forge, nodeCrypto, x509 } from "./libs.ts";
import { nodeSigningCrypto, nodeSigningKey } from "./node-signer.ts";
import { csrDer, toPem, toWire } from "./pem.ts";

/** A PKCS#10 certificate signing request in every form it is needed. */
export interface Csr {
  /** `-----BEGIN CERTIFICATE REQUEST-----` PEM. */
  pem: string;
  /** DER bytes. */
  der: Uint8Array;
  /** base64 DER without armour or newlines: the DPS `csr` field. */
  wire: string;
  commonName: string;
  keyType: KeyType;
}

export interface CreateCsrOptions {
  signal?: AbortSignal | undefined;
}

/** Longest common name accepted: the longest DPS registration id. */
export const MAX_COMMON_NAME_LENGTH = 128;

// Control characters (C0, DEL, C1) never belong in a subject.
const CONTROL_CHARACTERS = /\p{Cc}/u;

function assertCommonName(commonName: unknown): asserts commonName is string {
  if (typeof commonName !== "string" || commonName.length === 0) {
    throw new CsrError(
      "CSR_INVALID_SUBJECT",
      "The common name is empty: pass the registration id, which DPS requires as the CSR's CN.",
    );
  }
  if (commonName.trim() !== commonName) {
    throw new CsrError(
      "CSR_INVALID_SUBJECT",
      `The common name ${JSON.stringify(commonName)} has leading or trailing whitespace: remove it.`,
    );
  }
  if (CONTROL_CHARACTERS.test(commonName)) {
    throw new CsrError("CSR_INVALID_SUBJECT", "The common name contains control characters: remove them.");
  }
  if (commonName.length > MAX_COMMON_NAME_LENGTH) {
    throw new CsrError(
      "CSR_INVALID_SUBJECT",
      `The common name is ${commonName.length} characters long; at most ${MAX_COMMON_NAME_LENGTH} are allowed (the registration id limit).`,
    );
  }
}

/**
 * Creates a PKCS#10 CSR whose subject is only `CN=<commonName>` (no extensions), signed with the key
 * pair: SHA-384 for P-384 keys, SHA-256 otherwise. RSA CSRs are built with node-forge, EC CSRs directly in DER
 * with node:crypto (through @peculiar/x509 when the name has quotes, backslashes or a leading "#"). For DPS certificate issuance the common name must equal the
 * registration id.
 */
export async function createCsr(
  commonName: string,
  keyPair: KeyPair,
  options: CreateCsrOptions = {},
): Promise<Csr> {
  options.signal?.throwIfAborted();
  assertCommonName(commonName);
  const keyType = checkKeyPair(keyPair);
  const der = keyType.startsWith("rsa-")
    ? rsaCsrDer(commonName, keyPair)
    : directlyEncodableCsr(commonName)
      ? ecCsrDer(commonName, spkiDer(keyPair.publicKey), keyPair.privateKey, defaultHashFor(keyType))
      : await peculiarEcCsrDer(commonName, keyPair, keyType);
  options.signal?.throwIfAborted();
  const wire = toWire(der);
  rememberBuiltHere(wire);
  return { pem: toPem(der, "CERTIFICATE REQUEST"), der, wire, commonName, keyType };
}

// The wire forms of CSRs this process built and signed (createCsr): checking one before it is sent
// (checkCsrFor) needs no signature verification, since the same bytes were just signed with the caller's key.
const builtHere = new Set<string>();
const BUILT_HERE_SIZE = 16_384;

function rememberBuiltHere(wire: string): void {
  if (builtHere.size >= BUILT_HERE_SIZE) builtHere.delete(builtHere.values().next().value as string);
  builtHere.add(wire);
}

function rsaCsrDer(commonName: string, keyPair: KeyPair): Uint8Array {
  const lib = forge();
  const request = lib.pki.createCertificationRequest();
  request.publicKey = lib.pki.publicKeyFromPem(publicKeyToPem(keyPair.publicKey));
  // UTF8String: registration ids may hold "_", which PrintableString (forge's default) cannot.
  request.setSubject([
    {
      name: "commonName",
      value: commonName,
      valueTagClass: lib.asn1.Type.UTF8 as unknown as Forge.asn1.Class,
    },
  ]);
  const signingKey = lib.pki.privateKeyFromPem(
    privateKeyToPem(keyPair.privateKey),
  ) as Forge.pki.rsa.PrivateKey;
  request.sign(signingKey, lib.md.sha256.create());
  const bytes = lib.asn1.toDer(lib.pki.certificationRequestToAsn1(request)).getBytes();
  return new Uint8Array(Buffer.from(bytes, "binary"));
}

async function peculiarEcCsrDer(commonName: string, keyPair: KeyPair, keyType: KeyType): Promise<Uint8Array> {
  const lib = x509();
  const hash = defaultHashFor(keyType);
  const { signingAlgorithm } = webSigningAlgorithms(keyType, hash);
  const keys = {
    privateKey: nodeSigningKey(keyPair.privateKey, hash),
    publicKey: nodeSigningKey(keyPair.publicKey, hash),
  };
  const request = await lib.Pkcs10CertificateRequestGenerator.create(
    { name: [{ CN: [commonName] }], keys, signingAlgorithm },
    nodeSigningCrypto,
  );
  return new Uint8Array(request.rawData);
}

/** What a CSR says, and whether its self-signature verifies. */
export interface CsrInfo {
  /** The subject CN, undefined when the subject has none. */
  commonName: string | undefined;
  /** The full subject, e.g. `CN=device-1`. */
  subject: string;
  publicKey: KeyObject;
  keyType: KeyType;
  /** True when the CSR's signature verifies with its own public key (proof of possession). */
  signatureValid: boolean;
  /** The CSR as normalised PEM. */
  pem: string;
}

export interface ParseCsrOptions {
  /** Throw `CSR_INVALID` instead of returning `signatureValid: false`. Default false. */
  requireValidSignature?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** Signature hashes accepted in a CSR; SHA-1 and MD5 signatures can be forged by collision and prove nothing. */
const ACCEPTED_SIGNATURE_HASHES: ReadonlySet<string> = new Set(["SHA-256", "SHA-384", "SHA-512"]);

/** Names for the weak signature algorithms @peculiar/x509 reports only by OID. */
const WEAK_SIGNATURE_NAMES: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.2": "MD2 with RSA",
  "1.2.840.113549.1.1.3": "MD4 with RSA",
  "1.2.840.113549.1.1.4": "MD5 with RSA",
};

/**
 * Parses a CSR given as PEM, DER bytes or the DPS wire form (base64 DER) and verifies its signature.
 * Garbage is refused with `CSR_INVALID`; a key outside {@link KeyType} with `CSR_UNSUPPORTED_KEY_TYPE`; a
 * signature with a hash weaker than SHA-256 (SHA-1, MD5) with `CSR_WEAK_SIGNATURE`.
 */
export async function parseCsr(input: string | Uint8Array, options: ParseCsrOptions = {}): Promise<CsrInfo> {
  return readCsr(input, options, false);
}

/** {@link parseCsr}; with `signedHere` the signature of a CSR this process built is known to verify. */
async function readCsr(
  input: string | Uint8Array,
  options: ParseCsrOptions,
  signedHere: boolean,
): Promise<CsrInfo> {
  options.signal?.throwIfAborted();
  const der = csrDer(input);
  const parts = csrParts(der);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(parts.spki), format: "der", type: "spki" });
  } catch (error) {
    throw new CsrError("CSR_INVALID", `The CSR's public key cannot be read (${describeError(error)}).`, {
      cause: error,
    });
  }
  rememberSpki(publicKey, parts.spki);
  const keyType = keyTypeOf(publicKey);
  const { algorithm } = parts;
  const hash = algorithm.hash;
  if (hash === undefined || !ACCEPTED_SIGNATURE_HASHES.has(hash)) {
    const used =
      hash === undefined
        ? (WEAK_SIGNATURE_NAMES[algorithm.name] ?? algorithm.name)
        : `${algorithm.name} with ${hash}`;
    throw new CsrError(
      "CSR_WEAK_SIGNATURE",
      `The CSR is signed with ${used}; sign it with SHA-256, SHA-384 or SHA-512 (e.g. \`openssl req -new -sha256\`).`,
    );
  }
  let signatureValid: boolean;
  try {
    signatureValid = signedHere || (await parts.verify(publicKey, hash));
  } catch {
    signatureValid = false;
  }
  options.signal?.throwIfAborted();
  if (!signatureValid && options.requireValidSignature === true) {
    throw new CsrError(
      "CSR_INVALID",
      "The CSR's signature does not verify with its own public key: it was altered after signing, or signed with another key. Create a new CSR.",
    );
  }
  return {
    commonName: parts.commonName,
    subject: parts.subject,
    publicKey,
    keyType,
    signatureValid,
    pem: toPem(der, "CERTIFICATE REQUEST"),
  };
}

/** What parseCsr needs from a CSR, however it was read. */
interface CsrParts {
  commonName: string | undefined;
  subject: string;
  spki: Uint8Array;
  algorithm: { name: string; hash: string | undefined };
  verify(publicKey: KeyObject, hash: string): Promise<boolean>;
}

// ECDSA and RSA PKCS#1 v1.5 signatures go to node:crypto's one-shot verify (DER ECDSA signatures as in the CSR).
const nodeVerifiable = (name: string): boolean => name === "ECDSA" || name === "RSASSA-PKCS1-v1_5";
const nodeHash = (hash: string): string => hash.replace("-", ""); // "SHA-384" → "SHA384"

/** A plain CSR read straight from its DER; anything else decoded by @peculiar/x509. */
export function csrParts(der: Uint8Array): CsrParts {
  const plain = plainCsrFields(der);
  if (plain !== undefined) {
    return {
      commonName: plain.commonName,
      subject: `CN=${plain.commonName}`,
      spki: plain.spki,
      algorithm: plain.algorithm,
      verify: async (publicKey, hash) => verify(nodeHash(hash), plain.signed, publicKey, plain.signature),
    };
  }
  return decodedCsrParts(der);
}

/** {@link csrParts} through @peculiar/x509, for every CSR. */
export function decodedCsrParts(der: Uint8Array): CsrParts {
  const request = parseCsrDer(der);
  const algorithm = request.signatureAlgorithm as { name: string; hash?: { name?: string } };
  return {
    commonName: request.subjectName.getField("CN")[0],
    subject: request.subject,
    spki: new Uint8Array(request.publicKey.rawData),
    algorithm: { name: algorithm.name, hash: algorithm.hash?.name },
    verify: async (publicKey, hash) =>
      nodeVerifiable(algorithm.name)
        ? verify(nodeHash(hash), signedPart(der), publicKey, new Uint8Array(request.signature))
        : request.verify(nodeCrypto()),
  };
}

export interface CheckCsrForOptions {
  /** The CN the CSR must carry: the registration id or device id it is sent for. */
  commonName: string;
  /** What `commonName` is, for the problem text (e.g. "device id"). Default: "expected CN". */
  commonNameRole?: string | undefined;
  /** The public key the caller holds for the CSR; the CSR must carry it. */
  publicKey: KeyObject;
  signal?: AbortSignal | undefined;
}

/** The verdict on a CSR about to be sent: its parsed facts, or the first problem (a sentence saying how to fix it). */
export type CsrForCheck = { valid: true; info: CsrInfo } | { valid: false; problem: string; cause: unknown };

/**
 * Checks a CSR (PEM, DER or base64 DER) before it is sent for `commonName`: it parses, its signature verifies,
 * its CN is `commonName` and it carries `publicKey`. Never throws on a bad CSR (only on abort): callers turn the
 * verdict into their own typed error.
 */
export async function checkCsrFor(
  input: string | Uint8Array,
  options: CheckCsrForOptions,
): Promise<CsrForCheck> {
  let info: CsrInfo;
  try {
    const signedHere = typeof input === "string" && builtHere.has(input);
    info = await readCsr(input, { signal: options.signal }, signedHere);
  } catch (error) {
    options.signal?.throwIfAborted();
    return {
      valid: false,
      problem: `The CSR is not a readable PKCS#10 CSR (${describeError(error)}).`,
      cause: error,
    };
  }
  const refuse = (problem: string): CsrForCheck => ({ valid: false, problem, cause: undefined });
  if (!info.signatureValid) {
    return refuse("The CSR's signature does not verify; create it again with createCsr().");
  }
  const { commonName, commonNameRole = "expected CN" } = options;
  if (info.commonName !== commonName) {
    return refuse(
      `The CSR's CN is ${JSON.stringify(info.commonName ?? null)} but must equal the ${commonNameRole} "${commonName}"; create it with createCsr("${commonName}", keyPair).`,
    );
  }
  if (!publicKeysMatch(info.publicKey, options.publicKey)) {
    return refuse("The CSR does not carry the given public key; pass the key pair the CSR was created with.");
  }
  return { valid: true, info };
}
