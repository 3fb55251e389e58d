import type { Clock } from "@skittlesorter/core";

/** A clock frozen at `ms` (Unix milliseconds); timers are not used by this package. */
export function fixedClock(ms: number): Clock {
  return {
    now: () => ms,
    setTimeout: () => {
      throw new Error("timers are not expected here");
    },
    clearTimeout: () => {},
  };
}
