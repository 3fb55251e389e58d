import type { Classification, RgbcLike } from "@skittlesorter/classifier";
import { type Clock, delay, type Logger, noopLogger, type OperationOptions } from "@skittlesorter/core";
import type { Servo } from "@skittlesorter/servo";
import type { ColorSensor } from "@skittlesorter/tcs34725";
import {
  type ChutePositions,
  COLOR_NAMES,
  type SkittleColorName,
  type SorterPositions,
} from "./config/index.ts";

export type { ChutePositions, SorterPositions };

import { ConfigError } from "./errors.ts";

/** The subset of a classifier the loop uses (`CalibratedClassifier` from `@skittlesorter/classifier`). */
export interface SkittleClassifier {
  classify(readings: RgbcLike | readonly RgbcLike[]): Classification;
  readonly rejectDistance: number;
}

export type ChuteName = SkittleColorName | "Reject";

export interface SortedSkittle {
  /** 1-based count of skittles sorted in this run. */
  index: number;
  /** Classifier label: `red` … `purple`, or `unknown`. */
  label: string;
  /** Telemetry colour name: `Red` … `Purple`, or `Unknown`. */
  color: SkittleColorName | "Unknown";
  chute: ChuteName;
  chuteAngle: number;
  /** 0 … 1: how far inside the classifier's reject distance the reading was. */
  confidence: number;
  /** The averaged reading that was classified. */
  reading: { clear: number; red: number; green: number; blue: number };
  /** When it dropped, on the loop's clock (ms since the epoch). */
  atMs: number;
}

export type SorterState = "idle" | "running" | "paused" | "stopping" | "stopped";
export type StopReason = "requested" | "max-skittles" | "hopper-empty";

/** Fixed sleeps after each command of a cycle, in the original C# loop's manner (`Thread.Sleep`). */
export interface FixedSleepTiming {
  /** After commanding the arm to the pick position. */
  pickMs: number;
  /** After commanding the arm to the detect position (before the sensor read). */
  detectMs: number;
  /** After commanding the chute, only when it moves. */
  chuteMs: number;
  /** After commanding the arm to the drop position. */
  dropMs: number;
}

/**
 * How the loop waits for its moves. `"derived"` (default): each move waits the servo's modelled travel time, and
 * the chute's move overlaps the arm's move to the drop position. A {@link FixedSleepTiming}: every move sleeps a
 * fixed time after its command, one move at a time, as the original did; the chute moves only when its angle
 * changes. The sensor read is the same in both (one integration time, in the driver).
 */
export type SortTiming = "derived" | FixedSleepTiming;

/** The original C# loop's sleeps: pick 1000 ms, detect 500 ms, chute 200 ms, drop 1500 ms. */
export const ORIGINAL_FIXED_SLEEPS: Readonly<FixedSleepTiming> = Object.freeze({
  pickMs: 1000,
  detectMs: 500,
  chuteMs: 200,
  dropMs: 1500,
});

export interface SorterOptions {
  sensor: ColorSensor;
  /** The feeder arm: pick → detect → drop. */
  pick: Servo;
  chute: Servo;
  classifier: SkittleClassifier;
  positions: SorterPositions;
  chutes: ChutePositions;
  /** Reads averaged per skittle. Default 1. */
  readsPerSkittle?: number | undefined;
  /** Every wait runs on this clock (the emulated rig's virtual clock, or the system clock). */
  clock: Clock;
  /** Derived waits (default), or fixed sleeps (to compare with the original's cycle). */
  timing?: SortTiming | undefined;
  logger?: Logger | undefined;
  onSorted?: ((skittle: SortedSkittle) => void) | undefined;
  onStateChange?: ((state: SorterState) => void) | undefined;
  /** Stop after this many skittles. */
  maxSkittles?: number | undefined;
  /** After this many empty picks in a row the hopper counts as empty. Default 3. */
  emptyPicksBeforeIdle?: number | undefined;
  /** What to do with an empty hopper: stop (emulated rig) or wait `idleMs` and try again (default). */
  onHopperEmpty?: "stop" | "idle" | undefined;
  idleMs?: number | undefined;
}

export interface SorterSummary {
  sorted: number;
  /** Colour name (and `Unknown`) → count. */
  byColor: Record<string, number>;
  emptyPicks: number;
  stopReason: StopReason;
  startedAtMs: number;
  stoppedAtMs: number;
}

/**
 * The sorting loop: pick → detect → classify → chute → drop, one skittle at a time. Every wait is derived: servo
 * moves wait their modelled travel time (from the servo calibration), sensor reads wait one integration time (in
 * the driver). The chute and the arm's move to the drop position overlap: the arm starts late enough to arrive just
 * after the chute. Unrecognised objects go to the reject chute. {@link stop} finishes the skittle in hand, parks
 * and releases the servos. `timing` can replace the derived waits with the original's fixed sleeps (for comparison).
 */
export class Sorter {
  readonly #options: SorterOptions;
  readonly #logger: Logger;
  readonly #chutes: ChutePositions;
  /** Undefined: derived waits. */
  readonly #sleeps: Readonly<FixedSleepTiming> | undefined;
  readonly #byColor: Record<string, number> = {};
  #state: SorterState = "idle";
  #stopRequested = false;
  #paused = false;
  #homeWaiters: (() => void)[] = [];
  #wakePause: (() => void) | undefined;
  #sorted = 0;
  #emptyPicks = 0;

  constructor(options: SorterOptions) {
    this.#options = options;
    this.#logger = options.logger ?? noopLogger;
    this.#chutes = { ...options.chutes };
    this.#sleeps = fixedSleeps(options.timing);
  }

  get state(): SorterState {
    return this.#state;
  }

  get sorted(): number {
    return this.#sorted;
  }

  get byColor(): Readonly<Record<string, number>> {
    return { ...this.#byColor };
  }

  get chutePositions(): Readonly<ChutePositions> {
    return { ...this.#chutes };
  }

  /** Changes chute angles from the next skittle on. */
  setChutePositions(patch: Partial<ChutePositions>): void {
    for (const [key, value] of Object.entries(patch)) {
      if (typeof value === "number" && key in this.#chutes)
        (this.#chutes as Record<string, number>)[key] = value;
    }
  }

  /** Pauses after the skittle in hand. */
  pause(): void {
    this.#paused = true;
    if (this.#state === "running") this.#setState("paused");
  }

  resume(): void {
    this.#paused = false;
    if (this.#state === "paused") this.#setState("running");
    this.#wake();
  }

  /** Pauses after the skittle in hand and parks the servos; resolves once parked. {@link resume} continues. */
  home(): Promise<void> {
    this.pause();
    return new Promise((resolve) => {
      this.#homeWaiters.push(resolve);
      this.#wake();
      if (this.#state === "stopped") this.#resolveHome();
    });
  }

  /** Finishes the skittle in hand, parks and releases the servos; {@link run} then resolves. */
  stop(): void {
    this.#stopRequested = true;
    if (this.#state === "running" || this.#state === "paused") this.#setState("stopping");
    this.#wake();
  }

  #setState(state: SorterState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.onStateChange?.(state);
  }

  #wake(): void {
    const wake = this.#wakePause;
    this.#wakePause = undefined;
    wake?.();
  }

  #resolveHome(): void {
    const waiters = this.#homeWaiters;
    this.#homeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Runs until stopped, `maxSkittles` is reached, or the hopper is empty (with `onHopperEmpty: "stop"`). */
  async run(options: OperationOptions = {}): Promise<SorterSummary> {
    const { signal } = options;
    const { clock, positions, pick, chute } = this.#options;
    const startedAtMs = clock.now();
    this.#setState(this.#paused ? "paused" : "running");
    let stopReason: StopReason = "requested";
    try {
      // Known starting point: the worst-case travel from wherever the horns are.
      await Promise.all([
        pick.moveTo(positions.park, { signal }),
        chute.moveTo(this.#chutes.default, { signal }),
      ]);
      let emptyInARow = 0;
      for (;;) {
        signal?.throwIfAborted();
        if (this.#homeWaiters.length > 0) {
          await this.#park(signal);
          this.#resolveHome();
        }
        if (this.#paused && !this.#stopRequested) {
          await new Promise<void>((resolve) => {
            this.#wakePause = resolve;
          });
          continue;
        }
        if (this.#stopRequested) break;
        if (this.#options.maxSkittles !== undefined && this.#sorted >= this.#options.maxSkittles) {
          stopReason = "max-skittles";
          break;
        }
        const result = await this.#sortOne(signal);
        if (result === "empty") {
          this.#emptyPicks += 1;
          emptyInARow += 1;
          if (emptyInARow >= (this.#options.emptyPicksBeforeIdle ?? 3)) {
            if (this.#options.onHopperEmpty === "stop") {
              stopReason = "hopper-empty";
              break;
            }
            this.#logger.info("hopper looks empty; waiting", { idleMs: this.#options.idleMs ?? 5000 });
            await this.#idle(this.#options.idleMs ?? 5000, signal);
            emptyInARow = 0;
          }
        } else {
          emptyInARow = 0;
        }
      }
      this.#setState("stopping");
      await this.#park(signal);
      await Promise.all([pick.release({ signal }), chute.release({ signal })]);
    } finally {
      this.#setState("stopped");
      this.#resolveHome();
    }
    return {
      sorted: this.#sorted,
      byColor: { ...this.#byColor },
      emptyPicks: this.#emptyPicks,
      stopReason,
      startedAtMs,
      stoppedAtMs: clock.now(),
    };
  }

  async #idle(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const controller = new AbortController();
    const wake = new Promise<void>((resolve) => {
      this.#wakePause = resolve;
    });
    await Promise.race([
      delay(ms, {
        clock: this.#options.clock,
        signal: signal ? AbortSignal.any([signal, controller.signal]) : controller.signal,
      }).catch((error: unknown) => {
        if (signal?.aborted) throw error;
      }),
      wake,
    ]);
    controller.abort();
  }

  async #park(signal: AbortSignal | undefined): Promise<void> {
    const { pick, chute, positions } = this.#options;
    await Promise.all([
      pick.moveTo(positions.park, { signal }),
      chute.moveTo(this.#chutes.default, { signal }),
    ]);
  }

  /** Commands a move and waits: its modelled travel time, or the fixed sleep `sleepMs`. */
  async #move(servo: Servo, angleDeg: number, sleepMs: number | undefined, signal: AbortSignal | undefined) {
    if (sleepMs === undefined) {
      await servo.moveTo(angleDeg, { signal });
      return;
    }
    await servo.moveTo(angleDeg, { signal, wait: false });
    if (sleepMs > 0) await delay(sleepMs, { clock: this.#options.clock, signal });
  }

  async #sortOne(signal: AbortSignal | undefined): Promise<"empty" | "sorted"> {
    const { pick, chute, sensor, classifier, positions, clock } = this.#options;
    const sleeps = this.#sleeps;
    await this.#move(pick, positions.pick, sleeps?.pickMs, signal);
    await this.#move(pick, positions.detect, sleeps?.detectMs, signal);
    const readings = [];
    for (let index = 0; index < (this.#options.readsPerSkittle ?? 1); index += 1) {
      readings.push(await sensor.read({ signal }));
    }
    const classification = classifier.classify(readings);
    const reading = classification.reading ?? readings[0];
    if (classification.label === "empty") {
      this.#logger.debug("empty pick", { reading });
      return "empty";
    }
    const color = toColorName(classification.label);
    const chuteName: ChuteName = color === "Unknown" ? "Reject" : color;
    const target = color === "Unknown" ? this.#chutes.reject : this.#chutes[color];

    if (sleeps === undefined) {
      // Overlap: the chute moves at once; the arm leaves late enough to reach the drop position after the chute.
      const chuteTravel = chute.angleDeg === target ? 0 : chute.travelTimeMs(chute.angleDeg, target);
      const armTravel = pick.travelTimeMs(pick.angleDeg, positions.drop);
      const chuteMove = chute.moveTo(target, { signal, wait: false });
      const lead = Math.max(0, chuteTravel - armTravel);
      if (lead > 0) await delay(lead, { clock, signal });
      await chuteMove;
      await pick.moveTo(positions.drop, { signal });
    } else {
      // The original's cycle: the chute (only if it changes), then the arm, each followed by its sleep.
      if (chute.angleDeg !== target) await this.#move(chute, target, sleeps.chuteMs, signal);
      await this.#move(pick, positions.drop, sleeps.dropMs, signal);
    }

    this.#sorted += 1;
    this.#byColor[color] = (this.#byColor[color] ?? 0) + 1;
    const skittle: SortedSkittle = {
      index: this.#sorted,
      label: classification.label,
      color,
      chute: chuteName,
      chuteAngle: target,
      confidence: confidenceOf(classification, classifier.rejectDistance),
      reading: {
        clear: Math.round(reading?.clear ?? 0),
        red: Math.round(reading?.red ?? 0),
        green: Math.round(reading?.green ?? 0),
        blue: Math.round(reading?.blue ?? 0),
      },
      atMs: clock.now(),
    };
    this.#logger.debug("sorted", {
      index: skittle.index,
      color,
      chute: chuteName,
      confidence: skittle.confidence,
    });
    this.#options.onSorted?.(skittle);
    return "sorted";
  }
}

function fixedSleeps(timing: SortTiming | undefined): Readonly<FixedSleepTiming> | undefined {
  if (timing === undefined || timing === "derived") return undefined;
  const problems = (["pickMs", "detectMs", "chuteMs", "dropMs"] as const)
    .filter((key) => !(Number.isFinite(timing[key]) && timing[key] >= 0))
    .map((key) => ({
      path: `timing.${key}`,
      message: `must be a finite number of milliseconds ≥ 0 (got ${String(timing[key])}).`,
      fix: `Give ${key} a sleep in ms, e.g. the original's ${ORIGINAL_FIXED_SLEEPS[key]}, or use timing "derived".`,
    }));
  if (problems.length > 0) throw new ConfigError("CONFIG_INVALID", undefined, problems);
  return { ...timing };
}

function toColorName(label: string): SkittleColorName | "Unknown" {
  return COLOR_NAMES.find((name) => name.toLowerCase() === label) ?? "Unknown";
}

function confidenceOf(classification: Classification, rejectDistance: number): number {
  if (!Number.isFinite(classification.distance) || rejectDistance <= 0) return 0;
  const value = 1 - classification.distance / rejectDistance;
  return Math.round(Math.min(1, Math.max(0, value)) * 1000) / 1000;
}
