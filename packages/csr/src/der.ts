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

/** One DER element: where it starts (its tag), its tag, where its contents start and end. */
export interface DerElement {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/** The DER element at `offset` of `der`; throws a RangeError when it runs past `limit` (default: the end). */
export function readElement(der: Uint8Array, offset: number, limit = der.length): DerElement {
  const tag = der[offset];
  if (tag === undefined) throw new RangeError("truncated DER");
  const { header, length } = elementAt(der, offset);
  const end = offset + header + length;
  if (end > limit) throw new RangeError("truncated DER");
  return { tag, start: offset, contentStart: offset + header, end };
}

/** The elements inside a constructed element, in order. */
export function childrenOf(der: Uint8Array, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const child = readElement(der, offset, parent.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

/** The contents of an element. */
export function contentsOf(der: Uint8Array, element: DerElement): Uint8Array {
  return der.subarray(element.contentStart, element.end);
}
