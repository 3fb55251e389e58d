// A CA certificate's basicConstraints path length and keyUsage keyCertSign, read straight from its DER: node:crypto
// says whether a certificate is a CA but not these two, and decoding them with @peculiar/x509 means loading its
// ASN.1 schema classes (about 14 MiB of a device's memory) to check the two CA certificates of an issued chain.
import { childrenOf, contentsOf, type DerElement, readElement } from "./der.ts";

const BASIC_CONSTRAINTS = "551d13";
const KEY_USAGE = "551d0f";
/** keyUsage bit 5, in the first byte of the bit string (bit 0 is its most significant bit). */
const KEY_CERT_SIGN = 0x04;

export interface CaExtensionFacts {
  /** basicConstraints pathLenConstraint of a CA, undefined when absent. */
  pathLength: number | undefined;
  /** undefined when the certificate has no keyUsage extension. */
  keyCertSign: boolean | undefined;
}

/** The two facts as @peculiar/x509 reports them, or undefined when the DER is not the plain shape this reads. */
export function caExtensionFacts(der: Uint8Array): CaExtensionFacts | undefined {
  try {
    const tbs = childrenOf(der, readElement(der, 0))[0];
    if (tbs?.tag !== 0x30) return undefined;
    const wrapper = childrenOf(der, tbs).find((field) => field.tag === 0xa3);
    const list = wrapper === undefined ? undefined : childrenOf(der, wrapper)[0];
    const extensions = list === undefined ? [] : childrenOf(der, list);
    let pathLength: number | undefined;
    let keyCertSign: boolean | undefined;
    let seenConstraints = false;
    for (const extension of extensions) {
      const parts = childrenOf(der, extension);
      const id = parts[0];
      const value = parts[parts.length - 1];
      if (id?.tag !== 0x06 || value?.tag !== 0x04) return undefined;
      const oid = Buffer.from(contentsOf(der, id)).toString("hex");
      const inner = contentsOf(der, value);
      if (oid === BASIC_CONSTRAINTS && !seenConstraints) {
        seenConstraints = true;
        const constraints = basicConstraints(inner);
        if (constraints === undefined) return undefined;
        pathLength = constraints.ca ? constraints.pathLength : undefined;
      } else if (oid === KEY_USAGE && keyCertSign === undefined) {
        const bits = readElement(inner, 0);
        if (bits.tag !== 0x03 || bits.end !== inner.length) return undefined;
        keyCertSign = ((contentsOf(inner, bits)[1] ?? 0) & KEY_CERT_SIGN) !== 0;
      }
    }
    return { pathLength, keyCertSign };
  } catch {
    return undefined;
  }
}

function basicConstraints(der: Uint8Array): { ca: boolean; pathLength: number | undefined } | undefined {
  const sequence = readElement(der, 0);
  if (sequence.tag !== 0x30 || sequence.end !== der.length) return undefined;
  let ca = false;
  let pathLength: number | undefined;
  for (const field of childrenOf(der, sequence)) {
    if (field.tag === 0x01) ca = (contentsOf(der, field)[0] ?? 0) !== 0;
    else if (field.tag === 0x02) pathLength = smallInteger(der, field);
    else return undefined;
  }
  if (pathLength === -1) return undefined;
  return { ca, pathLength };
}

/** A non-negative INTEGER of at most 4 bytes; -1 otherwise. */
function smallInteger(der: Uint8Array, element: DerElement): number {
  const bytes = contentsOf(der, element);
  if (bytes.length === 0 || bytes.length > 4 || (bytes[0] ?? 0) > 0x7f) return -1;
  return bytes.reduce((value, byte) => value * 256 + byte, 0);
}
