export {
  AdminClient,
  type AdminClientOptions,
  type AdminRequestOptions,
  type AdminResponse,
  type CaCertificateView,
  type InvokeMethodRequest,
  readSimConfig,
  type SecretsOption,
  type SimAdminCallOptions,
  type TelemetryQuery,
  type TelemetrySummary,
  type TwinView,
} from "./admin/client.ts";
export { type CliIo, type MainOptions, main } from "./cli/program.ts";
export type { SimConfig, SimConfigOnDisk, SimEnrollmentGroupInfo } from "./config.ts";
export { API_VERSIONS, CSR_API_VERSION, DpsErrorCode } from "./dps/protocol.ts";
export { isSimulatorError, SimulatorError, type SimulatorErrorCode } from "./errors.ts";
export type { HubAuthMethod } from "./hub/auth.ts";
export type { HubDeviceView } from "./hub/routes.ts";
export type { HubConnectionEvent } from "./hub/service.ts";
export type { TelemetryView } from "./hub/telemetry.ts";
export type { StartSimulatorOptions } from "./options.ts";
export { type Simulator, startSimulator } from "./simulator.ts";
export type {
  AdrDeviceRecord,
  AdrPolicy,
  AllocationPolicy,
  AuditEvent,
  CaCertificate,
  Enrollment,
  EnrollmentGroup,
  HubDevice,
  IndividualEnrollment,
  IssuedCertificate,
  LinkedHub,
  Registration,
  RegistrationStatus,
  ReprovisionPolicy,
  Settings,
  Substatus,
  Twin,
} from "./state/model.ts";
export type { TlsRoot } from "./state/pki.ts";
