import { X509Certificate } from "node:crypto";
import { parseCsrDer } from "./csr-der.ts";
import { CsrError, type CsrErrorCode, describeError } from "./errors.ts";

/** One PEM block: its label (e.g. `CERTIFICATE`) and decoded DER. */
export interface PemBlock {
  label: string;
  der: Buffer;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** True when the text contains PEM armour. */
export function looksLikePem(text: string): boolean {
  return text.includes("-----BEGIN ");
}

/** Decodes strict base64 (whitespace ignored); undefined when the text is not base64. */
export function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, "");
  if (compact.length === 0 || compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  return Buffer.from(compact, "base64");
}

/** All PEM blocks in the text, in order. Blocks whose body is not base64 are reported with `code`. */
export function pemBlocks(text: string, code: CsrErrorCode = "CERT_INVALID"): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const label = match[1] ?? "";
    const der = decodeBase64(match[2] ?? "");
    if (der === undefined) {
      throw new CsrError(
        code,
        `The PEM block "${label}" #${blocks.length + 1} does not contain valid base64: check the file is not truncated or edited.`,
      );
    }
    blocks.push({ label, der });
  }
  return blocks;
}

/** DER bytes wrapped as PEM with 64-character lines and a trailing newline. */
export function toPem(der: Uint8Array, label: string): string {
  const body = Buffer.from(der)
    .toString("base64")
    .replace(/.{64}(?=.)/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** Base64 DER without armour or newlines. */
export function toWire(der: Uint8Array): string {
  return Buffer.from(der).toString("base64");
}

function certificateDerFromWire(wire: string, what: string, code: CsrErrorCode): Buffer {
  if (typeof wire !== "string" || looksLikePem(wire)) {
    throw new CsrError(code, `${what} must be base64 DER without PEM armour.`);
  }
  const der = decodeBase64(wire);
  if (der === undefined) {
    throw new CsrError(code, `${what} is not valid base64: expected base64 DER of an X.509 certificate.`);
  }
  return der;
}

/** Parses DER as a certificate with Node's X509Certificate; throws `code` when it is not one. */
export function parseCertificateDer(
  der: Uint8Array,
  what: string,
  code: CsrErrorCode = "CERT_INVALID",
): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (error) {
    throw new CsrError(
      code,
      `${what} is not a valid X.509 certificate (${describeError(error)}): pass a PEM or DER certificate.`,
      { cause: error },
    );
  }
}

/** DER of a CSR given as PEM, DER bytes or the DPS wire form (base64 DER). */
export function csrDer(input: string | Uint8Array): Buffer {
  if (input instanceof Uint8Array) {
    if (input.length === 0)
      throw new CsrError("CSR_INVALID", "The CSR is empty: pass a PEM, DER or base64 CSR.");
    return Buffer.from(input);
  }
  if (typeof input !== "string") {
    throw new CsrError("CSR_INVALID", "The CSR must be a string (PEM or base64) or DER bytes.");
  }
  if (looksLikePem(input)) {
    const blocks = pemBlocks(input, "CSR_INVALID").filter(
      (block) => block.label === "CERTIFICATE REQUEST" || block.label === "NEW CERTIFICATE REQUEST",
    );
    const first = blocks[0];
    if (first === undefined) {
      throw new CsrError(
        "CSR_INVALID",
        'No "CERTIFICATE REQUEST" PEM block found: pass a PKCS#10 CSR (not a certificate or key).',
      );
    }
    return first.der;
  }
  const der = decodeBase64(input);
  if (der === undefined) {
    throw new CsrError(
      "CSR_INVALID",
      "The CSR is neither PEM nor base64: pass a PEM CSR, DER bytes, or base64 DER (the DPS `csr` field).",
    );
  }
  return der;
}

/** The DPS `csr` field: base64 DER without armour or newlines. Validates that the input is a CSR. */
export function csrToWire(input: string | Uint8Array): string {
  const der = csrDer(input);
  parseCsrDer(der);
  return toWire(der);
}

/** A CSR in the DPS wire form (base64 DER) as PEM. */
export function csrFromWire(wire: string): string {
  if (typeof wire !== "string" || looksLikePem(wire)) {
    throw new CsrError("CSR_INVALID", "The wire form of a CSR is base64 DER without PEM armour.");
  }
  const der = csrDer(wire);
  parseCsrDer(der);
  return toPem(der, "CERTIFICATE REQUEST");
}

/** A single PEM certificate as base64 DER (one entry of DPS `issuedCertificateChain`). */
export function certificateToWire(pem: string): string {
  const blocks = certificateBlocks(pem);
  const first = blocks[0];
  if (first === undefined || blocks.length !== 1) {
    throw new CsrError(
      "CERT_INVALID",
      first === undefined
        ? 'No "CERTIFICATE" PEM block found: pass one PEM certificate.'
        : `Found ${blocks.length} certificates where one was expected: use chainToWire for a bundle.`,
    );
  }
  return toWire(first);
}

/** One base64-DER certificate (an entry of DPS `issuedCertificateChain`) as PEM. */
export function certificateFromWire(wire: string): string {
  const der = certificateDerFromWire(wire, "The certificate", "CERT_INVALID");
  parseCertificateDer(der, "The certificate");
  return toPem(der, "CERTIFICATE");
}

/** DER of every CERTIFICATE block of a PEM text, each checked to parse as a certificate. */
export function certificateBlocks(text: string): Buffer[] {
  if (typeof text !== "string") {
    throw new CsrError("CERT_INVALID", "The PEM bundle must be a string.");
  }
  return pemBlocks(text)
    .filter((block) => block.label === "CERTIFICATE")
    .map((block, index) => {
      parseCertificateDer(block.der, `Certificate #${index} of the PEM bundle`);
      return block.der;
    });
}

/**
 * The CERTIFICATE blocks of a PEM bundle, in order, each re-armoured as normalised PEM
 * (64-character lines, LF). Other blocks (keys, CSRs) are skipped. Each block must parse as a certificate.
 */
export function splitPemBundle(text: string): string[] {
  return certificateBlocks(text).map((der) => toPem(der, "CERTIFICATE"));
}

/**
 * DPS `registrationState.issuedCertificateChain` (base64 DER, leaf first) as PEM: one PEM per
 * certificate and the whole bundle (leaf first), ready to write to a file.
 */
export function chainFromWire(chain: readonly string[]): { pems: string[]; bundle: string } {
  const { pems, bundle } = decodeChainFromWire(chain);
  return { pems, bundle };
}

/** {@link chainFromWire}, also returning each certificate's DER and node:crypto parse (for checking it). */
export function decodeChainFromWire(chain: readonly string[]): {
  pems: string[];
  bundle: string;
  decoded: { der: Buffer; node: X509Certificate }[];
} {
  if (!Array.isArray(chain) || chain.length === 0) {
    throw new CsrError(
      "CHAIN_INVALID",
      "The issued certificate chain is empty: DPS returns issuedCertificateChain only when the enrollment has a credential policy and a CSR was sent.",
    );
  }
  const decoded = chain.map((entry, index) => {
    const der = certificateDerFromWire(entry, `Chain entry #${index}`, "CHAIN_INVALID");
    return { der, node: parseCertificateDer(der, `Chain entry #${index}`, "CHAIN_INVALID") };
  });
  const pems = decoded.map(({ der }) => toPem(der, "CERTIFICATE"));
  return { pems, bundle: pems.join(""), decoded };
}

/** A PEM bundle (or list of PEMs, each possibly a bundle) as the wire form: base64 DER strings in order. */
export function chainToWire(bundleOrPems: string | readonly string[]): string[] {
  const texts = typeof bundleOrPems === "string" ? [bundleOrPems] : [...bundleOrPems];
  const wires: string[] = [];
  for (const text of texts) {
    for (const der of certificateBlocks(text)) wires.push(toWire(der));
  }
  if (wires.length === 0) {
    throw new CsrError("CHAIN_INVALID", 'No "CERTIFICATE" PEM block found: pass a PEM bundle of the chain.');
  }
  return wires;
}
