import type { CheckIssuedChainOptions, IssuedCertificateChain } from "@skittlesorter/csr";
import { checkIssuedChain as checkChain } from "@skittlesorter/csr";
import { HubError } from "./errors.ts";

export interface CheckChainOptions extends Omit<CheckIssuedChainOptions, "commonName" | "commonNameRole"> {
  deviceId: string;
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
  const verdict = checkChain(wire, { ...options, commonName: options.deviceId, commonNameRole: "device id" });
  if (verdict.valid) return verdict.chain;
  throw new HubError(
    "HUB_ISSUED_CHAIN_INVALID",
    `The certificate chain IoT Hub issued fails its checks: ${verdict.problems.join("; ")}. Do not use it; renew again with a fresh key and CSR, and check the device's ADR credential policy.`,
    { cause: verdict.cause, problems: verdict.problems },
  );
}
