export {
  type CreateCertificateAuthorityOptions,
  createCertificateAuthority,
  type IssueCertificateOptions,
  type IssuerRef,
  issueCertificate,
} from "./ca.ts";
export {
  assertKeyMatchesCertificate,
  type CertificateFacts,
  type ChainVerification,
  certificateFacts,
  type VerifyChainOptions,
  verifyChain,
} from "./certificate.ts";
export {
  type CheckCsrForOptions,
  type CreateCsrOptions,
  type Csr,
  type CsrForCheck,
  type CsrInfo,
  checkCsrFor,
  createCsr,
  MAX_COMMON_NAME_LENGTH,
  type ParseCsrOptions,
  parseCsr,
} from "./csr.ts";
export { CsrError, type CsrErrorCode, isCsrError } from "./errors.ts";
export {
  type ReadPrivateKeyFileOptions,
  readPrivateKeyFile,
  type WriteFileAtomicOptions,
  type WritePrivateKeyFileOptions,
  writeFileAtomic,
  writePrivateKeyFile,
} from "./files.ts";
export {
  type IssuedCertificate,
  type IssuedCertificateFacts,
  issueCertificateWithFacts,
} from "./issued.ts";
export {
  type CheckIssuedChainOptions,
  checkIssuedChain,
  type IssuedCertificateChain,
  type IssuedChainCheck,
} from "./issued-chain.ts";
export {
  DEFAULT_KEY_TYPE,
  type GenerateKeyPairOptions,
  generateKeyPair,
  isKeyType,
  KEY_TYPES,
  type KeyPair,
  type KeyType,
  keyPairFromPrivateKey,
  keyTypeOf,
  privateKeyToPem,
  publicKeysMatch,
  publicKeyToPem,
} from "./keys.ts";
export {
  certificateFromWire,
  certificateToWire,
  chainFromWire,
  chainToWire,
  csrFromWire,
  csrToWire,
  splitPemBundle,
} from "./pem.ts";
export { isRenewalDue, type RenewalOptions, renewalDueAt } from "./renewal.ts";
