import type { CheckIssuedChainOptions, IssuedCertificateChain } from "@skittlesorter/csr";
import { checkIssuedChain as checkChain } from "@skittlesorter/csr";
import { DpsError } from "./errors.ts";

export interface CheckChainOptions extends Omit<CheckIssuedChainOptions, "commonName" | "commonNameRole"> {
  registrationId: string;
}

/**
 * Decodes `registrationState.issuedCertificateChain` and checks it before anyone uses it: leaf CN equals the
 * registration id, the leaf carries the CSR's public key, and the chain verifies to its own last (root)
 * certificate. Throws `DPS_ISSUED_CHAIN_INVALID` listing every problem found.
 */
export function checkIssuedChain(
  wire: readonly string[],
  options: CheckChainOptions,
): IssuedCertificateChain {
  const verdict = checkChain(wire, {
    ...options,
    commonName: options.registrationId,
    commonNameRole: "registration id",
  });
  if (verdict.valid) return verdict.chain;
  throw new DpsError(
    "DPS_ISSUED_CHAIN_INVALID",
    `The certificate chain DPS issued fails its checks: ${verdict.problems.join("; ")}. Do not use it; provision again with a fresh key and CSR, and check the enrollment's credential policy.`,
    { cause: verdict.cause, problems: verdict.problems },
  );
}
