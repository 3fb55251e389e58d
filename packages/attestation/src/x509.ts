import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { OperationOptions } from "@skittlesorter/core";
import { AttestationError } from "./errors.ts";
import { validateRegistrationId } from "./registration-id.ts";

/** The subject CN of an X.509 certificate is limited to 64 characters. */
export const MAX_X509_REGISTRATION_ID_LENGTH = 64;

export interface X509Attestation {
  kind: "x509";
  /** From the leaf's subject CN (else its first SAN DNS name), validated and lowercased. */
  registrationId: string;
  /** The leaf certificate, PEM. */
  certificatePem: string;
  /** The leaf's private key, PKCS#8 PEM. */
  privateKeyPem: string;
  /** Intermediate certificates after the leaf, PEM each; may be empty. */
  chainPem: string[];
}

/** Each field is PEM text (when it contains "-----BEGIN") or a file path. */
export interface X509Source {
  /** Leaf certificate, or a bundle: leaf first, the rest become the chain. */
  cert: string;
  /** Private key of the leaf. */
  key: string;
  /** Further intermediate certificates, appended after those of the `cert` bundle. */
  chain?: string | undefined;
}

export interface LoadX509Options extends OperationOptions {
  /** Directory that relative paths resolve against; default: the process's working directory. */
  cwd?: string | undefined;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Loads a device (bootstrap) certificate, its key and optional chain for X.509 attestation. The registration
 * id is the leaf's subject CN, else its first SAN DNS name. Checks the key belongs to the leaf.
 */
export async function loadX509Attestation(
  source: X509Source,
  options: LoadX509Options = {},
): Promise<X509Attestation> {
  const { signal } = options;
  signal?.throwIfAborted();
  const certText = await readSource(source.cert, "certificate", options);
  const keyText = await readSource(source.key, "private key", options);
  const chainText = source.chain === undefined ? undefined : await readSource(source.chain, "chain", options);

  const [leaf, ...chain] = parseCertificates(certText, source.cert, "certificate");
  if (chainText !== undefined && source.chain !== undefined) {
    chain.push(...parseCertificates(chainText, source.chain, "chain"));
  }

  const privateKey = parsePrivateKey(keyText, source.key);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new AttestationError(
      "X509_KEY_MISMATCH",
      `The private key (${describe(source.key, "private key")}) does not belong to the certificate ` +
        `"${leaf.subject.replaceAll("\n", ", ")}" (${describe(source.cert, "certificate")}); ` +
        "pass the key that was generated with this certificate.",
    );
  }

  return {
    kind: "x509",
    registrationId: registrationIdOf(leaf),
    certificatePem: leaf.toString(),
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    chainPem: chain.map((cert) => cert.toString()),
  };
}

async function readSource(value: string, what: string, options: LoadX509Options): Promise<string> {
  if (value.includes("-----BEGIN")) return value;
  if (value.trim() === "") {
    throw new AttestationError(
      "X509_LOAD_FAILED",
      `No ${what} given: pass a PEM file path or PEM text ("-----BEGIN …").`,
    );
  }
  const path = options.cwd === undefined ? value : resolve(options.cwd, value);
  try {
    return await readFile(path, { encoding: "utf8", ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    const reason =
      (error as { code?: unknown }).code === "ENOENT" ? "it does not exist" : "it cannot be read";
    throw new AttestationError(
      "X509_LOAD_FAILED",
      `Cannot load the ${what} from file "${path}": ${reason}; expected a PEM file.`,
      { cause: error },
    );
  }
}

function parseCertificates(
  text: string,
  origin: string,
  what: string,
): [X509Certificate, ...X509Certificate[]] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new AttestationError(
      "X509_LOAD_FAILED",
      `The ${describe(origin, what)} contains no PEM certificate; expected "-----BEGIN CERTIFICATE-----" blocks.`,
    );
  }
  const certs = blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new AttestationError(
        "X509_LOAD_FAILED",
        `Certificate ${index + 1} in the ${describe(origin, what)} is not a valid X.509 certificate; ` +
          "expected PEM-encoded DER certificates.",
        { cause: error },
      );
    }
  });
  return certs as [X509Certificate, ...X509Certificate[]];
}

function parsePrivateKey(text: string, origin: string): KeyObject {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw new AttestationError(
      "X509_LOAD_FAILED",
      `The ${describe(origin, "private key")} is encrypted; decrypt it first ` +
        "(openssl pkey -in key.pem -out key.plain.pem) and keep the result private.",
    );
  }
  try {
    return createPrivateKey(text);
  } catch (error) {
    // Node's message does not contain the key, but keep the cause out of the text anyway.
    throw new AttestationError(
      "X509_LOAD_FAILED",
      `The ${describe(origin, "private key")} is not a readable private key; expected an unencrypted PEM key ` +
        '("-----BEGIN PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----").',
      { cause: error },
    );
  }
}

function registrationIdOf(leaf: X509Certificate): string {
  // One "TYPE=value" line per attribute. (Not toLegacyObject(): on Node 20 its first call loads node:tls half-way
  // and leaves tls.createSecureContext undefined for the rest of the process.)
  const cns = leaf.subject
    .split("\n")
    .filter((line) => line.startsWith("CN="))
    .map((line) => line.slice("CN=".length));
  const where = `certificate "${leaf.subject.replaceAll("\n", ", ")}"`;
  if (cns.length > 1) {
    throw new AttestationError(
      "X509_NO_REGISTRATION_ID",
      `The ${where} has ${cns.length} subject CNs, so its registration id is ambiguous; issue it with exactly one CN.`,
    );
  }
  const id = cns[0] ?? firstSanDns(leaf.subjectAltName);
  if (id === undefined || id === "") {
    throw new AttestationError(
      "X509_NO_REGISTRATION_ID",
      `The ${where} has no subject CN and no DNS subject alternative name; DPS takes the registration id ` +
        "from the CN, so issue the certificate with CN=<registration id>.",
    );
  }
  if (id.length > MAX_X509_REGISTRATION_ID_LENGTH) {
    throw new AttestationError(
      "X509_REGISTRATION_ID_TOO_LONG",
      `The registration id "${id}" of the ${where} is ${id.length} characters; an X.509 subject CN (and so ` +
        `the registration id of a certificate) is limited to ${MAX_X509_REGISTRATION_ID_LENGTH}. Use a shorter id.`,
    );
  }
  return validateRegistrationId(id);
}

/** First `DNS:` entry of Node's `subjectAltName` text (values with special characters are JSON-quoted). */
function firstSanDns(san: string | undefined): string | undefined {
  if (san === undefined) return undefined;
  const match = /(?:^|, )DNS:("(?:[^"\\]|\\.)*"|[^,]*)/.exec(san);
  const raw = match?.[1];
  if (raw === undefined) return undefined;
  return raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
}

function describe(origin: string, what: string): string {
  return origin.includes("-----BEGIN") ? `${what} PEM text` : `${what} file "${origin}"`;
}
