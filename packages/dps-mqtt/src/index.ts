/** The certificate chain DPS issued for the CSR, leaf first (leaf → issuing CA → root). */
export type { IssuedCertificateChain } from "@skittlesorter/csr";
export { DpsError, type DpsErrorCode, type DpsErrorDetails, isDpsError } from "./errors.ts";
export {
  backoffDelayMs,
  DPS_API_VERSION,
  DPS_CSR_API_VERSION,
  DPS_GLOBAL_HOST,
  DPS_RESPONSE_TOPIC_FILTER,
  DPS_WEBSOCKET_PATH,
  dpsUsername,
  parseResponseTopic,
  pollTopic,
  type RegisterRequestBody,
  type RegistrationStatus,
  type ResponseTopic,
  registerRequestBody,
  registerTopic,
} from "./protocol.ts";
export {
  type DpsTransport,
  type ProvisionCsr,
  type ProvisionOptions,
  provision,
  type RegistrationResult,
} from "./provision.ts";
export type { MqttConnect } from "./session.ts";
