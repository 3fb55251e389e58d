import type { KeyObject } from "node:crypto";
import { type Clock, systemClock } from "@skittlesorter/core";
import { type CertificateFacts, verifyDecodedChain } from "./certificate.ts";
import { describeError } from "./errors.ts";
import { publicKeysMatch } from "./keys.ts";
import { decodeChainFromWire } from "./pem.ts";

/** A certificate chain a service issued for a CSR, leaf first (leaf → issuing CA → root). */
export interface IssuedCertificateChain {
  /** One PEM per certificate, leaf first. */
  pems: string[];
  /** All certificates as one PEM bundle, leaf first (what a TLS client presents). */
  bundle: string;
  /** Parsed facts per certificate, leaf first. */
  certificates: CertificateFacts[];
}

export interface CheckIssuedChainOptions {
  /** The CN the leaf must carry: the registration id or device id the CSR was made for. */
  commonName: string;
  /** What `commonName` is, for the problem text (e.g. "registration id"). Default: "expected CN". */
  commonNameRole?: string | undefined;
  /** The CSR's public key; when given, the leaf must carry it. */
  publicKey?: KeyObject | undefined;
  /** The time validity is checked against. Default: the system clock. */
  clock?: Clock | undefined;
}

/**
 * The verdict on an issued chain. `undecodable`: the wire entries are not base64 DER certificates (`cause` is
 * the decoding error); `rejected`: they decode but fail the checks (`cause` is undefined). `problems` lists
 * every problem found, as clauses a caller can join into its own message.
 */
export type IssuedChainCheck =
  | { valid: true; chain: IssuedCertificateChain }
  | { valid: false; reason: "undecodable" | "rejected"; problems: string[]; cause: unknown };

/**
 * Decodes a chain a service issued for a CSR (base64 DER, leaf first, as DPS and IoT Hub send it) and checks
 * it before anyone uses it: the leaf's CN is `commonName`, the leaf carries the CSR's public key, and the
 * chain verifies to its own last (root) certificate. Never throws on a bad chain: callers turn the verdict
 * into their own typed error.
 */
export function checkIssuedChain(
  wire: readonly string[],
  options: CheckIssuedChainOptions,
): IssuedChainCheck {
  let pems: string[];
  let bundle: string;
  let certificates: CertificateFacts[];
  let chainProblems: string[];
  try {
    const { decoded, ...wireForms } = decodeChainFromWire([...wire]);
    ({ pems, bundle } = wireForms);
    ({ certificates, problems: chainProblems } = verifyDecodedChain(
      decoded,
      (options.clock ?? systemClock).now(),
    ));
  } catch (error) {
    const problem = `the entries are not base64 DER certificates (${describeError(error)})`;
    return { valid: false, reason: "undecodable", problems: [problem], cause: error };
  }
  const problems: string[] = [];
  const [leaf] = certificates;
  if (leaf === undefined) {
    problems.push("the chain is empty");
  } else {
    if (leaf.commonName !== options.commonName) {
      problems.push(
        `the leaf's CN is ${JSON.stringify(leaf.commonName ?? null)}, not the ${options.commonNameRole ?? "expected CN"} "${options.commonName}"`,
      );
    }
    if (options.publicKey !== undefined && !publicKeysMatch(leaf.publicKey, options.publicKey)) {
      problems.push("the leaf's public key is not the CSR's public key");
    }
    if (certificates.length < 2) {
      problems.push("the chain holds only the leaf; an issued chain runs leaf → issuing CA → root");
    } else {
      // Anchored in its own last (root) certificate.
      problems.push(...chainProblems);
    }
  }
  if (problems.length > 0) return { valid: false, reason: "rejected", problems, cause: undefined };
  return { valid: true, chain: { pems, bundle, certificates } };
}
