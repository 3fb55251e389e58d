/** The certificate chain IoT Hub issued for the CSR, leaf first (leaf → issuing CA → root). */
export type { IssuedCertificateChain } from "@skittlesorter/csr";
export {
  type C2dMessage,
  type ConnectHubOptions,
  connectHub,
  HubClient,
  type HubClientOptions,
  type HubCredentials,
  type HubEvents,
  type HubTransport,
  type MethodHandler,
  type MethodRequest,
  type MethodResponse,
  type RenewalCsr,
  type RenewalResult,
  type RenewCertificateOptions,
  type SendTelemetryOptions,
  type Twin,
  type TwinOptions,
} from "./client.ts";
export type { MqttConnect } from "./connection.ts";
export { HubError, type HubErrorCode, type HubErrorDetails, isHubError } from "./errors.ts";
export {
  backoffDelayMs,
  HUB_API_VERSION,
  HUB_RENEWAL_API_VERSION,
  HUB_WEBSOCKET_PATH,
  hubUsername,
  parsePropertyBag,
  parseResponseTopic,
  type ResponseTopic,
  renewalRetryDelayMs,
  type TelemetrySystemProperties,
  telemetryTopic,
} from "./protocol.ts";
