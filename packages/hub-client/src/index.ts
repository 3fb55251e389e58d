export {
  type AzureIotDeviceConnectorOptions,
  azureIotDeviceConnector,
} from "./azure-iot-device.ts";
export type {
  DesiredListener,
  HubConnection,
  HubConnector,
  HubCredentials,
  HubMessage,
  MethodHandler,
  MethodResult,
  RenewalCsr,
  RenewCertificate,
  RenewCertificateOptions,
  RenewedCertificate,
  SasHubCredentials,
  X509HubCredentials,
} from "./connection.ts";
export {
  HubClientError,
  type HubClientErrorCode,
  type HubClientErrorDetails,
  isHubClientError,
} from "./errors.ts";
export { type HubMqttConnectorOptions, hubMqttConnector } from "./hub-mqtt.ts";
