// An end-entity certificate as issueCertificate makes it, encoded directly in DER and signed with node:crypto:
// its structure is fixed (RFC 5280 v3 with the extensions below), so building it through @peculiar/x509's ASN.1
// schema classes cost several times the signature. The bytes are those @peculiar/x509 produces for the same input
// (leaf-der.test.ts compares them).
import { createHash, type KeyObject, sign } from "node:crypto";
import { isIPv4 } from "node:net";
import { childrenOf, contentsOf, readElement } from "./der.ts";

export const tlv = (tag: number, ...contents: Uint8Array[]): Buffer => {
  const body = Buffer.concat(contents);
  const length = body.length;
  let header: number[];
  if (length < 0x80) header = [tag, length];
  else if (length < 0x100) header = [tag, 0x81, length];
  else if (length < 0x10000) header = [tag, 0x82, length >> 8, length & 0xff];
  else header = [tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff];
  return Buffer.concat([Buffer.from(header), body]);
};
export const sequence = (...contents: Uint8Array[]): Buffer => tlv(0x30, ...contents);
const hexBytes = (hex: string): Buffer => Buffer.from(hex, "hex");
const oid = (hex: string): Buffer => tlv(0x06, hexBytes(hex));
const octets = (bytes: Uint8Array): Buffer => tlv(0x04, bytes);
const TRUE = hexBytes("0101ff");

const OIDS = {
  commonName: "550403",
  basicConstraints: "551d13",
  keyUsage: "551d0f",
  extendedKeyUsage: "551d25",
  subjectAltName: "551d11",
  subjectKeyIdentifier: "551d0e",
  authorityKeyIdentifier: "551d23",
  clientAuth: "2b06010505070302",
  serverAuth: "2b06010505070301",
} as const;

/** AlgorithmIdentifier of each signature this builder makes. */
export const SIGNATURE_ALGORITHMS = {
  "ECDSA SHA-256": sequence(oid("2a8648ce3d040302")),
  "ECDSA SHA-384": sequence(oid("2a8648ce3d040303")),
  "RSA SHA-256": sequence(oid("2a864886f70d01010b"), hexBytes("0500")),
  "RSA SHA-384": sequence(oid("2a864886f70d01010c"), hexBytes("0500")),
} as const;

const extension = (type: string, critical: boolean, value: Uint8Array): Buffer =>
  critical ? sequence(oid(type), TRUE, octets(value)) : sequence(oid(type), octets(value));

// UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5), to the second.
function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-12-06T01:57:47.123Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), "latin1"))
    : tlv(0x18, Buffer.from(digits, "latin1"));
}

/** A subject name `CN=<commonName>`, with the string type @peculiar/x509 picks. */
export function commonNameSubject(commonName: string): Buffer {
  const printable = /^[A-Za-z0-9 '()+,-./:=?]*$/.test(commonName);
  const value = tlv(printable ? 0x13 : 0x0c, Buffer.from(commonName, "utf8"));
  return sequence(tlv(0x31, sequence(oid(OIDS.commonName), value)));
}

/**
 * True when {@link leafCertificateDer} encodes these names as @peculiar/x509 would; anything else is left to it:
 * it reads quotes, backslash escapes and a leading "#" (hex) in name values, and IPv6 and non-ASCII DNS names
 * are not encoded here.
 */
export function directlyEncodable(
  leaf: Pick<LeafCertificate, "commonName" | "dnsNames" | "ipAddresses">,
): boolean {
  return (
    !/["\\]/.test(leaf.commonName) &&
    !leaf.commonName.startsWith("#") &&
    leaf.dnsNames.every((name) => /^[\x20-\x7e]*$/.test(name)) &&
    leaf.ipAddresses.every((address) => isIPv4(address))
  );
}

/** The RFC 5280 key identifier (SHA-1 of the subjectPublicKey bits) of an SPKI. */
export function keyIdentifier(spki: Uint8Array): Buffer {
  const info = readElement(spki, 0);
  const bits = childrenOf(spki, info)[1];
  if (bits?.tag !== 0x03) throw new RangeError("not a SubjectPublicKeyInfo");
  return createHash("sha1").update(contentsOf(spki, bits).subarray(1)).digest();
}

/** The subject Name of a certificate, as DER. */
export function subjectNameDer(certificate: Uint8Array): Buffer {
  const tbs = childrenOf(certificate, readElement(certificate, 0))[0];
  if (tbs === undefined) throw new RangeError("not a certificate");
  const fields = childrenOf(certificate, tbs);
  const subject = fields[fields[0]?.tag === 0xa0 ? 5 : 4];
  if (subject?.tag !== 0x30) throw new RangeError("not a certificate");
  return Buffer.from(certificate.subarray(subject.start, subject.end));
}

export interface LeafCertificate {
  /** Hex. */
  serialNumber: string;
  issuerName: Uint8Array;
  issuerKeyId: Uint8Array;
  issuerKey: KeyObject;
  /** The issuer key's type decides ECDSA or RSA; `hash` the digest. */
  signature: "ECDSA" | "RSA";
  hash: "SHA-256" | "SHA-384";
  notBefore: Date;
  notAfter: Date;
  commonName: string;
  subjectSpki: Uint8Array;
  /** basicConstraints cA false: critical or not. */
  criticalBasicConstraints: boolean;
  /** keyEncipherment besides digitalSignature (RSA subject keys). */
  keyEncipherment: boolean;
  extendedKeyUsage: readonly ("clientAuth" | "serverAuth")[];
  dnsNames: readonly string[];
  /** IPv4 only (see {@link directlyEncodable}). */
  ipAddresses: readonly string[];
}

function extensions(leaf: LeafCertificate): Buffer {
  const list = [
    extension(OIDS.basicConstraints, leaf.criticalBasicConstraints, sequence()),
    // digitalSignature (bit 0), keyEncipherment (bit 2); the first byte counts the unused trailing bits.
    extension(OIDS.keyUsage, true, hexBytes(leaf.keyEncipherment ? "030205a0" : "03020780")),
  ];
  if (leaf.extendedKeyUsage.length > 0) {
    const usages = leaf.extendedKeyUsage.map((usage) => oid(OIDS[usage]));
    list.push(extension(OIDS.extendedKeyUsage, false, sequence(...usages)));
  }
  const names = [
    ...leaf.dnsNames.map((name) => tlv(0x82, Buffer.from(name, "latin1"))),
    ...leaf.ipAddresses.map((address) => tlv(0x87, Buffer.from(address.split(".").map(Number)))),
  ];
  if (names.length > 0) list.push(extension(OIDS.subjectAltName, false, sequence(...names)));
  list.push(
    extension(OIDS.subjectKeyIdentifier, false, octets(keyIdentifier(leaf.subjectSpki))),
    extension(OIDS.authorityKeyIdentifier, false, sequence(tlv(0x80, leaf.issuerKeyId))),
  );
  return tlv(0xa3, sequence(...list));
}

// A serial as a positive DER INTEGER: no redundant leading zeros, a zero byte before a high bit.
function positiveInteger(hex: string): Buffer {
  let bytes = hexBytes(hex.length % 2 === 1 ? `0${hex}` : hex);
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0) first += 1;
  bytes = bytes.subarray(first);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  return (bytes[0] ?? 0) > 0x7f ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

/** The certificate's DER: the to-be-signed part built directly, signed with node:crypto. */
export function leafCertificateDer(leaf: LeafCertificate): Buffer {
  const algorithm = SIGNATURE_ALGORITHMS[`${leaf.signature} ${leaf.hash}`];
  const tbs = sequence(
    hexBytes("a003020102"), // [0] version v3
    tlv(0x02, positiveInteger(leaf.serialNumber)),
    algorithm,
    leaf.issuerName,
    sequence(time(leaf.notBefore), time(leaf.notAfter)),
    commonNameSubject(leaf.commonName),
    leaf.subjectSpki,
    extensions(leaf),
  );
  const signature = sign(leaf.hash.replace("-", ""), tbs, leaf.issuerKey);
  return sequence(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature));
}
