// The few fields of a plain CSR — subject `CN=<id>` only, no attributes, an ECDSA or RSA PKCS#1 v1.5 signature with
// SHA-2, as createCsr, openssl and the device SDKs make them for DPS — read straight from the DER, so the common
// case needs no JavaScript ASN.1 decoder. Anything else returns undefined and goes to @peculiar/x509.
import { childrenOf, contentsOf, type DerElement, readElement } from "./der.ts";

export interface PlainCsrFields {
  /** CertificationRequestInfo, the signed bytes. */
  signed: Uint8Array;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  commonName: string;
  algorithm: { name: "ECDSA" | "RSASSA-PKCS1-v1_5"; hash: "SHA-256" | "SHA-384" | "SHA-512" };
  signature: Uint8Array;
}

const SEQUENCE = 0x30;
const SET = 0x31;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const NULL = 0x05;
const OID = 0x06;
const UTF8_STRING = 0x0c;
const PRINTABLE_STRING = 0x13;
const ATTRIBUTES = 0xa0;

const COMMON_NAME_OID = "550403"; // 2.5.4.3
const SIGNATURE_ALGORITHMS: Readonly<Record<string, PlainCsrFields["algorithm"]>> = {
  "2a8648ce3d040302": { name: "ECDSA", hash: "SHA-256" }, // ecdsa-with-SHA256
  "2a8648ce3d040303": { name: "ECDSA", hash: "SHA-384" },
  "2a8648ce3d040304": { name: "ECDSA", hash: "SHA-512" },
  "2a864886f70d01010b": { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, // sha256WithRSAEncryption
  "2a864886f70d01010c": { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" },
  "2a864886f70d01010d": { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" },
};

// A CN that reads the same in RFC 4514 form with no escaping (what @peculiar/x509 would print).
const PLAIN_VALUE = /^[A-Za-z0-9_.@:/()' -]+$/;

const hex = (der: Uint8Array, element: DerElement): string =>
  Buffer.from(contentsOf(der, element)).toString("hex");

function plainCommonName(der: Uint8Array, subject: DerElement): string | undefined {
  const rdns = childrenOf(der, subject);
  const rdn = rdns[0];
  if (rdns.length !== 1 || rdn?.tag !== SET) return undefined;
  const attributes = childrenOf(der, rdn);
  const attribute = attributes[0];
  if (attributes.length !== 1 || attribute?.tag !== SEQUENCE) return undefined;
  const [type, value, ...rest] = childrenOf(der, attribute);
  if (type?.tag !== OID || hex(der, type) !== COMMON_NAME_OID || value === undefined || rest.length > 0) {
    return undefined;
  }
  if (value.tag !== UTF8_STRING && value.tag !== PRINTABLE_STRING) return undefined;
  const text = Buffer.from(contentsOf(der, value)).toString("utf8");
  return PLAIN_VALUE.test(text) && text.trim() === text ? text : undefined;
}

/** The fields of a plain CSR, or undefined when the CSR is anything else (or not DER at all). */
export function plainCsrFields(der: Uint8Array): PlainCsrFields | undefined {
  try {
    const outer = readElement(der, 0);
    if (outer.tag !== SEQUENCE || outer.end !== der.length) return undefined;
    const [info, algorithm, signature, ...extra] = childrenOf(der, outer);
    if (info?.tag !== SEQUENCE || algorithm?.tag !== SEQUENCE || signature?.tag !== BIT_STRING)
      return undefined;
    if (extra.length > 0) return undefined;
    const [version, subject, spki, attributes, ...more] = childrenOf(der, info);
    const versionBytes = version === undefined ? undefined : contentsOf(der, version);
    if (version?.tag !== INTEGER || versionBytes?.length !== 1 || versionBytes[0] !== 0) return undefined;
    if (subject?.tag !== SEQUENCE || spki?.tag !== SEQUENCE || more.length > 0) return undefined;
    if (attributes?.tag !== ATTRIBUTES || attributes.end !== attributes.contentStart) return undefined;
    const commonName = plainCommonName(der, subject);
    const [oid, parameters, ...tooMany] = childrenOf(der, algorithm);
    const known = oid?.tag === OID ? SIGNATURE_ALGORITHMS[hex(der, oid)] : undefined;
    if (commonName === undefined || known === undefined || tooMany.length > 0) return undefined;
    // ECDSA takes no parameters; RSA PKCS#1 v1.5 a NULL, or none.
    const nullParameters = parameters?.tag === NULL && parameters.end === parameters.contentStart;
    if (parameters !== undefined && (known.name === "ECDSA" || !nullParameters)) return undefined;
    const bits = contentsOf(der, signature);
    if (bits[0] !== 0 || bits.length < 2) return undefined;
    return {
      signed: der.subarray(info.start, info.end),
      spki: der.subarray(spki.start, spki.end),
      commonName,
      algorithm: known,
      signature: bits.subarray(1),
    };
  } catch {
    return undefined;
  }
}
