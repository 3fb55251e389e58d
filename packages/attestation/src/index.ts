export {
  type Attestation,
  type MqttCredentials,
  type MqttCredentialsOptions,
  mqttCredentials,
  type SymmetricKeyAttestation,
  type SymmetricKeyAttestationInput,
  symmetricKeyAttestation,
} from "./attestation.ts";
export { AttestationError, type AttestationErrorCode, isAttestationError } from "./errors.ts";
export { deriveDeviceKey } from "./keys.ts";
export { MAX_REGISTRATION_ID_LENGTH, validateRegistrationId } from "./registration-id.ts";
export {
  createSasToken,
  dpsResourceUri,
  type ParsedSasToken,
  parseSasToken,
  redactSasToken,
  type SasTokenOptions,
  type VerifySasOptions,
  verifySasToken,
} from "./sas.ts";
export {
  type LoadX509Options,
  loadX509Attestation,
  MAX_X509_REGISTRATION_ID_LENGTH,
  type X509Attestation,
  type X509Source,
} from "./x509.ts";
