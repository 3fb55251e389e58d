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
