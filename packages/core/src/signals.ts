/** Abort helpers for long-lived clients: each removes its listeners as soon as it settles (no leaks across polls). */

type MaybeSignal = AbortSignal | undefined;

/**
 * Settles with `promise`, or rejects with the reason of the first of `signals` to abort.
 * Listeners are removed as soon as it settles.
 */
export function abortable<T>(promise: Promise<T>, signals: readonly MaybeSignal[]): Promise<T> {
  const live = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  const aborted = live.find((signal) => signal.aborted);
  if (aborted !== undefined) {
    promise.catch(() => {});
    return Promise.reject(aborted.reason);
  }
  if (live.length === 0) return promise;
  return new Promise<T>((resolve, reject) => {
    const listeners = live.map((signal) => {
      const onAbort = (): void => {
        cleanup();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      return { signal, onAbort };
    });
    const cleanup = (): void => {
      for (const { signal, onAbort } of listeners) signal.removeEventListener("abort", onAbort);
    };
    promise.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}

export interface LinkedSignal {
  signal: AbortSignal;
  /** Detaches from the sources. */
  dispose(): void;
}

/** An AbortSignal that aborts (with the same reason) when any source aborts; `dispose()` detaches it. */
export function linkSignals(sources: readonly MaybeSignal[]): LinkedSignal {
  const controller = new AbortController();
  const live = sources.filter((signal): signal is AbortSignal => signal !== undefined);
  const aborted = live.find((signal) => signal.aborted);
  if (aborted !== undefined) {
    controller.abort(aborted.reason);
    return { signal: controller.signal, dispose: () => {} };
  }
  const listeners = live.map((signal) => {
    const onAbort = (): void => {
      dispose();
      controller.abort(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    return { signal, onAbort };
  });
  const dispose = (): void => {
    for (const { signal, onAbort } of listeners) signal.removeEventListener("abort", onAbort);
  };
  return { signal: controller.signal, dispose };
}

/** A promise with its `resolve` and `reject` outside, for answers that arrive through another callback. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Creates a {@link Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
