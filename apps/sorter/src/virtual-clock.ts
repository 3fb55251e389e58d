import type { Clock } from "@skittlesorter/core";

interface Timer {
  id: number;
  dueMs: number;
  callback: () => void;
}

export interface VirtualClockOptions {
  /** Virtual time at creation, ms since the epoch. Default: the real time. */
  startMs?: number | undefined;
  /**
   * How virtual time relates to real time: 0 (default) runs as fast as possible, jumping to the next timer once
   * the event loop is idle; 1 is real time; 0.1 is ten times faster than real time.
   */
  timeScale?: number | undefined;
}

/**
 * A discrete-event {@link Clock} for the emulated rig: timers fire in due order, and `now()` jumps to each timer's
 * due time when it fires. Work that only waits on this clock (servo travel, sensor integration) runs in no real time,
 * so hundreds of emulated skittles take well under a second. Timers fire one per macrotask, after pending promise
 * callbacks, so the simulated code sees time advance only while it waits.
 */
export class VirtualClock implements Clock {
  readonly timeScale: number;
  #nowMs: number;
  #timers: Timer[] = [];
  #nextId = 1;
  #scheduled = false;

  constructor(options: VirtualClockOptions = {}) {
    this.#nowMs = options.startMs ?? Date.now();
    this.timeScale = options.timeScale ?? 0;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer: Timer = {
      id: this.#nextId++,
      dueMs: this.#nowMs + Math.max(0, Number.isFinite(ms) ? ms : 0),
      callback,
    };
    let index = this.#timers.length;
    while (index > 0 && (this.#timers[index - 1]?.dueMs ?? 0) > timer.dueMs) index -= 1;
    this.#timers.splice(index, 0, timer);
    this.#schedule();
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    const index = this.#timers.findIndex((timer) => timer.id === handle);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#fire());
  }

  #fire(): void {
    const next = this.#timers[0];
    if (next === undefined) {
      this.#scheduled = false;
      return;
    }
    const waitRealMs = this.timeScale > 0 ? (next.dueMs - this.#nowMs) * this.timeScale : 0;
    const run = (): void => {
      this.#scheduled = false;
      const timer = this.#timers[0];
      if (timer === undefined) return;
      this.#timers.shift();
      this.#nowMs = Math.max(this.#nowMs, timer.dueMs);
      if (this.#timers.length > 0) this.#schedule();
      timer.callback();
    };
    if (waitRealMs >= 1) setTimeout(run, waitRealMs);
    else run();
  }
}
