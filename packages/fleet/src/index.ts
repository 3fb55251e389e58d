export { FleetError, type FleetErrorCode, isFleetError } from "./errors.ts";
export type {
  FleetErrorGroup,
  FleetOptions,
  FleetPhase,
  FleetProgress,
  FleetReport,
  FleetStage,
} from "./options.ts";
export { fleetRegistrationId, runFleet } from "./run.ts";
export { type Percentiles, percentileOfSorted, percentiles, perSecond } from "./stats.ts";
