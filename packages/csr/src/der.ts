// Just enough DER to find the to-be-signed part of a signed structure (a CSR, a certificate), which is the first
// element of its outer SEQUENCE, without decoding it.

/** Header length and content length of the DER element at `offset`. */
function elementAt(der: Uint8Array, offset: number): { header: number; length: number } {
  const first = der[offset + 1];
  if (first === undefined) throw new RangeError("truncated DER");
  if (first < 0x80) return { header: 2, length: first };
  const bytes = first & 0x7f;
  if (bytes === 0 || bytes > 4) throw new RangeError("unsupported DER length");
  let length = 0;
  for (let index = 0; index < bytes; index += 1) {
    const byte = der[offset + 2 + index];
    if (byte === undefined) throw new RangeError("truncated DER");
    length = length * 256 + byte;
  }
  return { header: 2 + bytes, length };
}

/** The bytes of the first element inside the outer SEQUENCE of `der` (e.g. a CSR's CertificationRequestInfo). */
export function signedPart(der: Uint8Array): Uint8Array {
  if (der[0] !== 0x30) throw new RangeError("not a DER SEQUENCE");
  const outer = elementAt(der, 0);
  const start = outer.header;
  const inner = elementAt(der, start);
  const end = start + inner.header + inner.length;
  if (end > outer.header + outer.length || end > der.length) throw new RangeError("truncated DER");
  return der.subarray(start, end);
}
