import type { KeyObject } from "node:crypto";
import type { Clock } from "@skittlesorter/core";
import {
  type CertificateFacts,
  certificateFacts,
  chainFromWire,
  publicKeysMatch,
  verifyChain,
} from "@skittlesorter/csr";
import { HubError } from "./errors.ts";

/** The certificate chain IoT Hub issued for the CSR, leaf first (leaf → issuing CA → root). */
export interface IssuedCertificateChain {
  /** One PEM per certificate, leaf first. */
  pems: string[];
  /** All certificates as one PEM bundle, leaf first (what a TLS client presents). */
  bundle: string;
  /** Parsed facts per certificate, leaf first. */
  certificates: CertificateFacts[];
}

export interface CheckChainOptions {
  deviceId: string;
  /** The CSR's public key; when given, the leaf must carry it. */
  publicKey?: KeyObject | undefined;
  clock?: Clock | undefined;
}

/**
 * Decodes the `certificates` of a renewal answer and checks it before anyone uses it: leaf CN equals the
 * device id, the leaf carries the CSR's public key, and the chain verifies to its own last (root)
 * certificate. Throws `HUB_ISSUED_CHAIN_INVALID` listing every problem found.
 */
export function checkIssuedChain(
  wire: readonly string[],
  options: CheckChainOptions,
): IssuedCertificateChain {
  let pems: string[];
  let bundle: string;
  let certificates: CertificateFacts[];
  try {
    ({ pems, bundle } = chainFromWire([...wire]));
    certificates = pems.map((pem) => certificateFacts(pem));
  } catch (error) {
    throw new HubError(
      "HUB_ISSUED_CHAIN_INVALID",
      `IoT Hub returned certificates that is not base64 DER certificates (${error instanceof Error ? error.message : String(error)}); the chain cannot be used.`,
      { cause: error, problems: ["not base64 DER certificates"] },
    );
  }
  const problems: string[] = [];
  const [leaf] = certificates;
  if (leaf === undefined) {
    problems.push("the chain is empty");
  } else {
    if (leaf.commonName !== options.deviceId) {
      problems.push(
        `the leaf's CN is ${JSON.stringify(leaf.commonName ?? null)}, not the device id "${options.deviceId}"`,
      );
    }
    if (options.publicKey !== undefined && !publicKeysMatch(leaf.publicKey, options.publicKey)) {
      problems.push("the leaf's public key is not the CSR's public key");
    }
    if (certificates.length < 2) {
      problems.push("the chain holds only the leaf; the hub sends leaf → issuing CA → root");
    } else {
      const root = pems[pems.length - 1] as string;
      const verdict = verifyChain(pems, {
        trustedRoots: [root],
        clock: options.clock,
      });
      if (!verdict.valid) problems.push(...verdict.problems);
    }
  }
  if (problems.length > 0) {
    throw new HubError(
      "HUB_ISSUED_CHAIN_INVALID",
      `The certificate chain IoT Hub issued fails its checks: ${problems.join("; ")}. Do not use it; renew again with a fresh key and CSR, and check the device's ADR credential policy.`,
      { problems },
    );
  }
  return { pems, bundle, certificates };
}
