import { type Clock, systemClock } from "./clock.ts";

/** Every async operation accepts these. */
export interface OperationOptions {
  signal?: AbortSignal | undefined;
}

export interface DelayOptions extends OperationOptions {
  clock?: Clock | undefined;
}

/** Resolves after `ms`, or rejects with `signal.reason` when aborted first. Leaves no listener behind. */
export function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  const { signal, clock = systemClock } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The longest delay Node's timers honour (2^31 − 1 ms); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Checks a duration option: a finite number of milliseconds from `min` to {@link MAX_TIMER_MS}. A bad value throws
 * `invalid(message)`, so each package raises its own typed error with a message naming the option.
 */
export function checkDurationMs(
  name: string,
  ms: number,
  min: number,
  invalid: (message: string) => Error,
): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < min || ms > MAX_TIMER_MS) {
    throw invalid(`${name} must be a number of milliseconds from ${min} to ${MAX_TIMER_MS}, got ${ms}.`);
  }
  return ms;
}
