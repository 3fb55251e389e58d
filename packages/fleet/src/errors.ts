import { errorGuard, SkittleError } from "@skittlesorter/core";

export type FleetErrorCode =
  /** An option is out of range or makes invalid registration ids; the message names it and the allowed values. */
  "FLEET_INVALID_OPTION";

/** What `runFleet` rejects with before it starts (a device's failure is counted in the report, never thrown). */
export class FleetError extends SkittleError<FleetErrorCode> {
  /** The option at fault, e.g. `devices`. */
  readonly option: string;

  constructor(code: FleetErrorCode, option: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.option = option;
  }
}

export const isFleetError = errorGuard<FleetError>("FleetError", "FLEET_");
