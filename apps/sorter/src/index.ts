export {
  applyDesired,
  type RunSummary,
  type SorterApp,
  type SorterAppDeps,
  startSorterApp,
  type TelemetrySummary,
  telemetryMessage,
} from "./app.ts";
export {
  type CliIo,
  EXIT_CONFIG,
  EXIT_FAILURE,
  EXIT_OK,
  formatSummary,
  main,
  type SignalSource,
} from "./cli.ts";
export {
  type AdrDeviceUpdateSettings,
  type AdrSettings,
  BUNDLED_EMULATED_CONFIG,
  COLOR_NAMES,
  type CredentialSettings,
  type DpsAttestationSettings,
  type DpsSettings,
  ENV_PREFIX,
  type HardwareSettings,
  type LoadConfigOptions,
  loadConfig,
  type OutboxSettings,
  type RawConfig,
  type ResolveConfigOptions,
  type RigSettings,
  rawConfigSchema,
  redactConfig,
  resolveConfig,
  type SensorSettings,
  type ServoSettings,
  type SkittleColorName,
  type SorterConfig,
  TEMPLATE_FILES,
  type TelemetrySettings,
} from "./config/index.ts";
export {
  type CertificateSummary,
  CredentialManager,
  type CredentialManagerOptions,
  type CredentialPaths,
  CredentialStore,
  type DeviceCredentials,
  type EnsureResult,
  effectiveRenewalDueMs,
  type LoadResult,
  type ProvisionedIdentity,
  type Provisioner,
  type ProvisionRequest,
} from "./credentials.ts";
export {
  type EmulatedSortOptions,
  type EmulatedSortResult,
  runEmulatedSort,
} from "./emulated-sort.ts";
export {
  ConfigError,
  type ConfigProblem,
  describeError,
  isConfigError,
  isSorterError,
  SorterError,
  type SorterErrorCode,
} from "./errors.ts";
export {
  type EmulatedHardwareConfig,
  type OpenHardwareOptions,
  openEmulatedHardware,
  openHardware,
  openRealHardware,
  type RealHardwareConfig,
  type SorterHardware,
} from "./hardware.ts";
export {
  type DesiredListener,
  type HubConnection,
  type HubConnector,
  type HubMessage,
  type MethodHandler,
  type MethodResult,
  sorterHubConnector,
  toSorterError,
} from "./hub.ts";
export { type ConsoleLoggerOptions, createConsoleLogger, type LogLevel, redact } from "./logging.ts";
export {
  type EnqueueResult,
  Outbox,
  type OutboxEntry,
  type OutboxFullPolicy,
  type OutboxMessage,
  type OutboxOptions,
  type OutboxStats,
} from "./outbox.ts";
export { createDpsProvisioner, type DpsProvisionerOptions } from "./provisioning.ts";
export {
  EmulatedRig,
  type EmulatedRigOptions,
  type RigDrop,
  type RigItem,
  type RigReport,
  type RigServo,
  rigItems,
} from "./rig.ts";
export {
  type ChuteName,
  type ChutePositions,
  type FixedSleepTiming,
  ORIGINAL_FIXED_SLEEPS,
  type SkittleClassifier,
  type SortedSkittle,
  Sorter,
  type SorterOptions,
  type SorterPositions,
  type SorterState,
  type SorterSummary,
  type SortTiming,
  type StopReason,
} from "./sorter.ts";
export { toHubMessage, Uplink, type UplinkOptions, type UplinkStats } from "./uplink.ts";
export { SOFTWARE_NAME, SOFTWARE_VERSION } from "./version.ts";
export { VirtualClock, type VirtualClockOptions } from "./virtual-clock.ts";
