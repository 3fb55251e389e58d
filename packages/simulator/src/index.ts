export {
  AdminClient,
  type AdminClientOptions,
  type AdminRequestOptions,
  type AdminResponse,
  readSimConfig,
} from "./admin-client.ts";
export { type CliIo, type MainOptions, main } from "./cli.ts";
export { SimulatorError, type SimulatorErrorCode } from "./errors.ts";
export type { HubDeviceView } from "./hub-api.ts";
export type { HubAuthMethod, HubConnectionEvent, TelemetryView } from "./hub-service.ts";
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
} from "./model.ts";
export { API_VERSIONS, CSR_API_VERSION, DpsErrorCode } from "./protocol.ts";
export {
  type SimConfig,
  type SimEnrollmentGroupInfo,
  type Simulator,
  type StartSimulatorOptions,
  startSimulator,
} from "./simulator.ts";
