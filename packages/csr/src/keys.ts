import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateNodeKeyPair,
  type KeyObject,
  type webcrypto,
} from "node:crypto";
import { promisify } from "node:util";
import { abortable } from "@skittlesorter/core";
import { CsrError } from "./errors.ts";

/** The key types a device key / CSR may use. EC P-384 is what DPS certificate issuance documents. */
export type KeyType = "ec-p384" | "ec-p256" | "rsa-2048" | "rsa-3072" | "rsa-4096";

/** Every supported {@link KeyType}, default first. */
export const KEY_TYPES: readonly KeyType[] = Object.freeze([
  "ec-p384",
  "ec-p256",
  "rsa-2048",
  "rsa-3072",
  "rsa-4096",
] as const);

/** The key type used when none is given. */
export const DEFAULT_KEY_TYPE: KeyType = "ec-p384";

/** A private key and its public key. */
export interface KeyPair {
  keyType: KeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface GenerateKeyPairOptions {
  signal?: AbortSignal | undefined;
}

const generateAsync = promisify(generateNodeKeyPair);

/** True when `value` is one of {@link KEY_TYPES}. */
export function isKeyType(value: unknown): value is KeyType {
  return typeof value === "string" && (KEY_TYPES as readonly string[]).includes(value);
}

export function assertKeyType(value: unknown): asserts value is KeyType {
  if (!isKeyType(value)) {
    throw new CsrError(
      "CSR_UNSUPPORTED_KEY_TYPE",
      `Unsupported key type ${JSON.stringify(value)}: use one of ${KEY_TYPES.join(", ")}.`,
    );
  }
}

/**
 * Generates a fresh key pair with Node's native crypto (runs off the main thread).
 * The default is EC P-384, the curve DPS certificate issuance documents.
 */
export async function generateKeyPair(
  keyType: KeyType = DEFAULT_KEY_TYPE,
  options: GenerateKeyPairOptions = {},
): Promise<KeyPair> {
  options.signal?.throwIfAborted();
  assertKeyType(keyType);
  const generated =
    keyType === "ec-p384" || keyType === "ec-p256"
      ? generateAsync("ec", { namedCurve: keyType === "ec-p384" ? "P-384" : "P-256" })
      : generateAsync("rsa", { modulusLength: Number(keyType.slice(4)), publicExponent: 0x10001 });
  const { privateKey, publicKey } = await abortable(generated, [options.signal]);
  return { keyType, privateKey, publicKey };
}

/** The private key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). Treat the result as a secret. */
export function privateKeyToPem(key: KeyObject): string {
  if (key.type !== "private") {
    throw new CsrError("KEY_INVALID", `Expected a private key but got a ${key.type} key.`);
  }
  return key.export({ type: "pkcs8", format: "pem" }).toString();
}

/** The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`); a private key gives its public half. */
export function publicKeyToPem(key: KeyObject): string {
  return publicKeyOf(key).export({ type: "spki", format: "pem" }).toString();
}

/** The {@link KeyType} of a public or private key; throws `CSR_UNSUPPORTED_KEY_TYPE` for anything else. */
export function keyTypeOf(key: KeyObject): KeyType {
  let type = keyTypes.get(key);
  if (type === undefined) {
    type = readKeyType(key);
    keyTypes.set(key, type);
  }
  return type;
}

/** Key types already read: `asymmetricKeyDetails` asks OpenSSL each time, and a CSR's key is read when parsed and again when issued for. */
const keyTypes = new WeakMap<KeyObject, KeyType>();

function readKeyType(key: KeyObject): KeyType {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec") {
    if (details?.namedCurve === "secp384r1") return "ec-p384";
    if (details?.namedCurve === "prime256v1") return "ec-p256";
    throw new CsrError(
      "CSR_UNSUPPORTED_KEY_TYPE",
      `Unsupported EC curve ${details?.namedCurve ?? "(unknown)"}: use P-384 (ec-p384) or P-256 (ec-p256).`,
    );
  }
  if (key.asymmetricKeyType === "rsa") {
    const bits = details?.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}`;
    throw new CsrError(
      "CSR_UNSUPPORTED_KEY_TYPE",
      `Unsupported RSA key size ${bits ?? "(unknown)"} bits: use 2048, 3072 or 4096.`,
    );
  }
  throw new CsrError(
    "CSR_UNSUPPORTED_KEY_TYPE",
    `Unsupported key algorithm ${key.asymmetricKeyType ?? key.type}: use ${KEY_TYPES.join(", ")}.`,
  );
}

/** The public key of a key (itself when already public). */
export function publicKeyOf(key: KeyObject): KeyObject {
  if (key.type === "public") return key;
  if (key.type === "private") return createPublicKey(key);
  throw new CsrError("KEY_INVALID", "Expected an asymmetric key but got a secret (symmetric) key.");
}

/** SPKI DER of the public half of a key. */
export function spkiDer(key: KeyObject): Buffer {
  return knownSpki.get(key) ?? publicKeyOf(key).export({ type: "spki", format: "der" });
}

// The SPKI DER a public key was read from (e.g. a CSR's), so that spkiDer need not export it again. Only the
// encodings node:crypto itself exports are kept: a named P-384 or P-256 curve and an uncompressed point.
const knownSpki = new WeakMap<KeyObject, Buffer>();
const CANONICAL_EC_SPKI = [
  { prefix: Buffer.from("3076301006072a8648ce3d020106052b8104002203620004", "hex"), length: 120 },
  { prefix: Buffer.from("3059301306072a8648ce3d020106082a8648ce3d03010703420004", "hex"), length: 91 },
];

/** Remembers the SPKI DER `key` was created from (with `createPublicKey`), when it is the canonical encoding. */
export function rememberSpki(key: KeyObject, spki: Uint8Array): void {
  if (key.type !== "public") return;
  const canonical = CANONICAL_EC_SPKI.some(
    ({ prefix, length }) =>
      spki.length === length && Buffer.from(spki.buffer, spki.byteOffset, prefix.length).equals(prefix),
  );
  if (canonical) knownSpki.set(key, Buffer.from(spki));
}

/** PKCS#8 DER of a private key. */
export function pkcs8Der(key: KeyObject): Buffer {
  if (key.type !== "private") {
    throw new CsrError("KEY_INVALID", `Expected a private key but got a ${key.type} key.`);
  }
  return key.export({ type: "pkcs8", format: "der" });
}

/** True when both keys (public or private) have the same public key. */
export function publicKeysMatch(a: KeyObject, b: KeyObject): boolean {
  // Comparing two public keys needs no export (the common case: a certificate's key and a CSR's).
  if (a.type === "public" && b.type === "public") return a.equals(b);
  return spkiDer(a).equals(spkiDer(b));
}

/** Checks a key pair is internally consistent and returns its key type. */
export function checkKeyPair(keyPair: KeyPair): KeyType {
  if (keyPair.privateKey.type !== "private") {
    throw new CsrError("KEY_INVALID", "keyPair.privateKey is not a private key.");
  }
  const actual = keyTypeOf(keyPair.privateKey);
  if (actual !== keyPair.keyType) {
    throw new CsrError(
      "KEY_PAIR_MISMATCH",
      `keyPair.keyType says ${keyPair.keyType} but the private key is ${actual}: pass a consistent key pair (generateKeyPair makes one).`,
    );
  }
  if (!publicKeysMatch(keyPair.privateKey, keyPair.publicKey)) {
    throw new CsrError(
      "KEY_PAIR_MISMATCH",
      "keyPair.publicKey does not belong to keyPair.privateKey: pass the public key generated with it.",
    );
  }
  return actual;
}

/** Makes a {@link KeyPair} from a private key (PEM or KeyObject). */
export function keyPairFromPrivateKey(key: KeyObject | string): KeyPair {
  const privateKey = typeof key === "string" ? createPrivateKey(key) : key;
  if (privateKey.type !== "private") {
    throw new CsrError("KEY_INVALID", `Expected a private key but got a ${privateKey.type} key.`);
  }
  return { keyType: keyTypeOf(privateKey), privateKey, publicKey: createPublicKey(privateKey) };
}

/** The WebCrypto import algorithm and signature algorithm for signing with a key of this type. */
export function webSigningAlgorithms(
  keyType: KeyType,
  hash: "SHA-256" | "SHA-384",
): {
  importAlgorithm: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  signingAlgorithm: webcrypto.EcdsaParams | webcrypto.Algorithm;
} {
  if (keyType === "ec-p384" || keyType === "ec-p256") {
    return {
      importAlgorithm: { name: "ECDSA", namedCurve: keyType === "ec-p384" ? "P-384" : "P-256" },
      signingAlgorithm: { name: "ECDSA", hash },
    };
  }
  return {
    importAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash },
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5" },
  };
}

/** SHA-384 for P-384 keys, SHA-256 for everything else. */
export function defaultHashFor(keyType: KeyType): "SHA-256" | "SHA-384" {
  return keyType === "ec-p384" ? "SHA-384" : "SHA-256";
}
