/** The certificate chain IoT Hub issued for the CSR, leaf first (leaf → issuing CA → root). */
export type { IssuedCertificateChain } from "@skittlesorter/csr";
export {
  type ConnectHubOptions,
  connectHub,
  HubClient,
  type HubClientOptions,
  type HubTransport,
  type SendTelemetryOptions,
} from "./client.ts";
export type { MqttConnect } from "./connection.ts";
export type { HubCredentials } from "./credentials.ts";
export { HubError, type HubErrorCode, type HubErrorDetails, isHubError } from "./errors.ts";
export type { C2dMessage, HubEvents } from "./events.ts";
export type { MethodHandler, MethodRequest, MethodResponse } from "./methods.ts";
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
export type { RenewalCsr, RenewalResult, RenewCertificateOptions } from "./renewal.ts";
export type { Twin, TwinOptions } from "./twin.ts";
