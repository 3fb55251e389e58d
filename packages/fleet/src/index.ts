export { FleetError, type FleetErrorCode, isFleetError } from "./errors.ts";
export {
  type FleetErrorGroup,
  type FleetOptions,
  type FleetPhase,
  type FleetProgress,
  type FleetReport,
  type FleetStage,
  fleetRegistrationId,
  runFleet,
} from "./run.ts";
export { type Percentiles, percentileOfSorted, percentiles, perSecond } from "./stats.ts";
