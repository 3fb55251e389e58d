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
  SasHubCredentials,
  X509HubCredentials,
} from "./connection.ts";
export {
  HubClientError,
  type HubClientErrorCode,
  type HubClientErrorDetails,
  isHubClientError,
} from "./errors.ts";
