// An EC CSR as createCsr makes it, encoded directly in DER and signed with node:crypto: its structure is fixed
// (PKCS#10 with a subject `CN=<commonName>`, no attributes), so it needs none of @peculiar/x509's ASN.1 schema
// classes, whose loading alone costs a device about 14 MiB of memory. The bytes are those @peculiar/x509 produces
// for the same input, signature aside (csr-build.test.ts compares them).
import { type KeyObject, sign } from "node:crypto";
import { commonNameSubject, SIGNATURE_ALGORITHMS, sequence, tlv } from "./leaf-der.ts";

const VERSION_1 = Buffer.from("020100", "hex");
const NO_ATTRIBUTES = Buffer.from("a000", "hex");

/**
 * True when {@link ecCsrDer} encodes this common name as @peculiar/x509 would: it reads quotes, backslash escapes
 * and a leading "#" (hex) in name values, so those are left to it.
 */
export function directlyEncodableCsr(commonName: string): boolean {
  return !/["\\]/.test(commonName) && !commonName.startsWith("#");
}

/** The DER of a PKCS#10 request for `CN=<commonName>` with the EC key whose SPKI is given, signed with `hash`. */
export function ecCsrDer(
  commonName: string,
  spki: Uint8Array,
  privateKey: KeyObject,
  hash: "SHA-256" | "SHA-384",
): Buffer {
  const info = sequence(VERSION_1, commonNameSubject(commonName), spki, NO_ATTRIBUTES);
  const signature = sign(hash.replace("-", ""), info, { key: privateKey, dsaEncoding: "der" });
  return sequence(info, SIGNATURE_ALGORITHMS[`ECDSA ${hash}`], tlv(0x03, Buffer.from([0]), signature));
}
