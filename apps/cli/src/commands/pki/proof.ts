import type { KeyObject } from "node:crypto";
import { CliError } from "@skittlesorter/cli-shell";
import {
  DEFAULT_KEY_TYPE,
  generateKeyPair,
  issueCertificate,
  type KeyType,
  verifyChain,
} from "@skittlesorter/csr";

/**
 * The proof-of-possession certificate DPS asks for: CN = the verification code, signed by the CA, on a
 * throwaway key. Checked against the CA before it is returned.
 */
export async function verificationCertificate(
  issuer: { certificatePem: string; privateKey: KeyObject },
  code: string,
  options: { keyType?: KeyType; validityDays?: number; caLabel?: string } = {},
): Promise<string> {
  const subjectKey = await generateKeyPair(options.keyType ?? DEFAULT_KEY_TYPE);
  const pem = await issueCertificate({
    publicKey: subjectKey.publicKey,
    commonName: code,
    issuer,
    validityDays: options.validityDays ?? 1,
  });
  const check = verifyChain([pem], { trustedRoots: [issuer.certificatePem] });
  if (!check.valid) {
    throw new CliError(
      "CHAIN_INVALID",
      `The verification certificate does not verify against ${options.caLabel ?? "its CA"}: ${check.problems.join("; ")}.`,
    );
  }
  return pem;
}
