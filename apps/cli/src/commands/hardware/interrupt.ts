/** An abort signal that fires on SIGINT (Ctrl-C) while a long-running command (watch, sweep) is active. */
export interface Interrupt {
  readonly signal: AbortSignal;
  /** Removes the SIGINT listener. Idempotent. */
  dispose(): void;
}

/** Turns the next SIGINT into an abort (instead of killing the process) until disposed, so devices are closed cleanly. */
export function interruptOnSigint(): Interrupt {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort(new Error("interrupted (SIGINT)"));
  process.once("SIGINT", onSigint);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSigint);
    },
  };
}

/** True when `error` is the interrupt's own abort reason. */
export const isInterrupt = (interrupt: Interrupt, error: unknown): boolean =>
  interrupt.signal.aborted && error === interrupt.signal.reason;
