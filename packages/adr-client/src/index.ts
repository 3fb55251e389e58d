export type { AccessToken, TokenCredential } from "@azure/core-auth";
export type { HttpClient } from "@azure/core-rest-pipeline";
export {
  ADR_API_VERSION,
  type AdrClient,
  type AdrClientOptions,
  type AdrOperationOptions,
  type AdrRetryOptions,
  ARM_BASE_URL,
  ARM_SCOPE,
  createAdrClient,
} from "./client.ts";
export { staticTokenCredential } from "./credential.ts";
export { AdrError, type AdrErrorCode, type AdrErrorDetails, isAdrError } from "./errors.ts";
export { ADR_UPDATABLE_DEVICE_FIELDS } from "./patch.ts";
export type {
  AdrCertificateConfiguration,
  AdrCredentialPolicy,
  AdrDevice,
  AdrDeviceCredentialPolicyRef,
  AdrDeviceEndpoints,
  AdrDeviceMessagingEndpoint,
  AdrDevicePatch,
  AdrDeviceProperties,
  AdrInboundEndpoint,
  ArmResource,
  ArmSystemData,
  ProvisioningState,
} from "./types.ts";
