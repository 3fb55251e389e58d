// @peculiar/x509 builds certificates and CSRs through WebCrypto, which would need every KeyObject imported as a
// CryptoKey first: for EC keys that import costs more than the signature itself. This provider hands the library
// WebCrypto for everything (digests, public key export) except signing with a key made by `nodeSigningKey`,
// which goes straight to node:crypto's one-shot `sign` with the KeyObject.
import { type KeyObject, sign as nodeSign, webcrypto } from "node:crypto";
import { defaultHashFor, type KeyType, keyTypeOf, spkiDer } from "./keys.ts";

const KEY = Symbol("node:crypto KeyObject");

/** A CryptoKey look-alike that @peculiar/x509 passes back to {@link nodeSigningCrypto}. */
interface NodeBackedKey {
  readonly type: "private" | "public";
  readonly extractable: boolean;
  readonly algorithm: webcrypto.KeyAlgorithm & { namedCurve?: string; hash?: { name: string } };
  readonly usages: readonly string[];
  readonly [KEY]: KeyObject;
}

function algorithmFor(keyType: KeyType, hash: "SHA-256" | "SHA-384"): NodeBackedKey["algorithm"] {
  if (keyType === "ec-p384") return { name: "ECDSA", namedCurve: "P-384" };
  if (keyType === "ec-p256") return { name: "ECDSA", namedCurve: "P-256" };
  return { name: "RSASSA-PKCS1-v1_5", hash: { name: hash } };
}

/** The key as @peculiar/x509 expects a WebCrypto key; only {@link nodeSigningCrypto} can use it. */
export function nodeSigningKey(key: KeyObject, hash?: "SHA-256" | "SHA-384"): webcrypto.CryptoKey {
  const keyType = keyTypeOf(key);
  const backed: NodeBackedKey = {
    type: key.type === "private" ? "private" : "public",
    extractable: key.type !== "private",
    algorithm: algorithmFor(keyType, hash ?? defaultHashFor(keyType)),
    usages: key.type === "private" ? ["sign"] : ["verify"],
    [KEY]: key,
  };
  return backed as unknown as webcrypto.CryptoKey;
}

const keyObjectOf = (key: unknown): KeyObject | undefined =>
  typeof key === "object" && key !== null && KEY in key ? (key as NodeBackedKey)[KEY] : undefined;

const hashName = (algorithm: unknown): string => {
  const hash = (algorithm as { hash?: string | { name: string } }).hash;
  const name = typeof hash === "string" ? hash : hash?.name;
  if (name === undefined) throw new TypeError("the signing algorithm names no hash");
  return name.replace("-", "").toLowerCase(); // "SHA-384" → "sha384"
};

const subtle = webcrypto.subtle;

/** WebCrypto for @peculiar/x509, signing and exporting {@link nodeSigningKey} keys with node:crypto. */
export const nodeSigningCrypto = {
  getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
  randomUUID: webcrypto.randomUUID.bind(webcrypto),
  subtle: {
    digest: subtle.digest.bind(subtle),
    importKey: subtle.importKey.bind(subtle),
    verify: subtle.verify.bind(subtle),
    async exportKey(format: string, key: webcrypto.CryptoKey): Promise<ArrayBuffer | webcrypto.JsonWebKey> {
      const keyObject = keyObjectOf(key);
      if (keyObject === undefined) return subtle.exportKey(format as "spki", key);
      if (format !== "spki") throw new TypeError(`cannot export a node:crypto signing key as ${format}`);
      const der = spkiDer(keyObject);
      return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
    },
    async sign(
      algorithm: unknown,
      key: webcrypto.CryptoKey,
      data: ArrayBuffer | ArrayBufferView,
    ): Promise<ArrayBuffer> {
      const keyObject = keyObjectOf(key);
      if (keyObject === undefined) {
        return subtle.sign(algorithm as webcrypto.AlgorithmIdentifier, key, data);
      }
      const bytes = ArrayBuffer.isView(data)
        ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : new Uint8Array(data);
      // WebCrypto's ECDSA signature format (r ‖ s); @peculiar/x509 converts it to DER itself.
      const signature = nodeSign(hashName(algorithm), bytes, { key: keyObject, dsaEncoding: "ieee-p1363" });
      return signature.buffer.slice(
        signature.byteOffset,
        signature.byteOffset + signature.byteLength,
      ) as ArrayBuffer;
    },
  },
} as unknown as webcrypto.Crypto;
