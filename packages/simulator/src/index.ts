export {
  AdminClient,
  type AdminClientOptions,
  type AdminRequestOptions,
  type AdminResponse,
  readSimConfig,
} from "./admin/client.ts";
export { type CliIo, type MainOptions, main } from "./cli/program.ts";
export { API_VERSIONS, CSR_API_VERSION, DpsErrorCode } from "./dps/protocol.ts";
export { isSimulatorError, SimulatorError, type SimulatorErrorCode } from "./errors.ts";
export type { HubAuthMethod } from "./hub/auth.ts";
export type { HubDeviceView } from "./hub/routes.ts";
export type { HubConnectionEvent } from "./hub/service.ts";
export type { TelemetryView } from "./hub/telemetry.ts";
export {
  type SimConfig,
  type SimEnrollmentGroupInfo,
  type Simulator,
  type StartSimulatorOptions,
  startSimulator,
} from "./simulator.ts";
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
