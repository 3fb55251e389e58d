import type { OperationOptions } from "@skittlesorter/core";
import { ServoError } from "./errors.ts";
import { PCA9685_OSCILLATOR_HZ, type Pca9685 } from "./pca9685.ts";

/**
 * Times the edges of a PWM output: a GPIO input wired back to the channel, a logic analyser, or an emulator. Only the
 * spacing of the timestamps matters, not their origin.
 */
export interface EdgeTimer {
  /** Timestamps, in µs, of `count` consecutive rising edges seen from now on. */
  risingEdgesUs(count: number, options?: OperationOptions): Promise<readonly number[]>;
}

/** The range a PCA9685's internal oscillator can plausibly have: 25 MHz nominal, real parts about 23–27 MHz. */
export const PCA9685_OSCILLATOR_RANGE_HZ = { min: 20_000_000, max: 30_000_000 } as const;

/** The oscillator behind a measured frame period at a prescale: 4096 × (prescale + 1) ticks per period. */
export function oscillatorFromPeriod(periodUs: number, prescale: number): number {
  if (!(Number.isFinite(periodUs) && periodUs > 0)) {
    throw new ServoError(
      "SERVO_INVALID_OPTION",
      `A measured period must be a positive number of µs, got ${String(periodUs)} (about 20000 at 50 Hz).`,
    );
  }
  return (4096 * (prescale + 1) * 1e6) / periodUs;
}

/** Throws `SERVO_CALIBRATION_FAILED` unless `oscillatorHz` is one a PCA9685 can have. */
export function checkOscillatorHz(oscillatorHz: number, what: string): number {
  const { min, max } = PCA9685_OSCILLATOR_RANGE_HZ;
  if (!(oscillatorHz >= min && oscillatorHz <= max)) {
    throw new ServoError(
      "SERVO_CALIBRATION_FAILED",
      `${what} gives an oscillator of ${Math.round(oscillatorHz)} Hz, outside the ${min / 1e6}–${max / 1e6} MHz a ` +
        "PCA9685 can have (25 MHz nominal). Check that the period was measured on the PCA9685 output at the prescale " +
        "shown, in µs, over whole periods (rising edge to rising edge).",
    );
  }
  return oscillatorHz;
}

export interface OscillatorMeasurement {
  /** The chip's real oscillator frequency: pass it as `oscillatorHz` (sorter key `Hardware.Pca9685OscillatorHz`). */
  oscillatorHz: number;
  /** The mean frame period measured, in µs. */
  periodUs: number;
  /** The frame rate measured, in Hz. */
  frequencyHz: number;
  /** The prescale the chip ran at during the measurement. */
  prescale: number;
  /** How far the oscillator is from 25 MHz, in percent. */
  offsetPercent: number;
  /** Periods averaged. */
  periods: number;
}

export interface MeasureOscillatorOptions extends OperationOptions {
  /** Frame periods to average; more averages out the timer's jitter. Default 50 (one second at 50 Hz). */
  periods?: number | undefined;
}

/** Builds the measurement result from a mean period. */
export function oscillatorMeasurement(
  periodUs: number,
  prescale: number,
  periods = 1,
): OscillatorMeasurement {
  const oscillatorHz = checkOscillatorHz(
    oscillatorFromPeriod(periodUs, prescale),
    `A period of ${periodUs} µs at prescale ${prescale}`,
  );
  return {
    oscillatorHz,
    periodUs,
    frequencyHz: 1e6 / periodUs,
    prescale,
    offsetPercent: (oscillatorHz / PCA9685_OSCILLATOR_HZ - 1) * 100,
    periods,
  };
}

/**
 * Measures a PCA9685's oscillator: puts a 50 % duty square wave on `channel`, times `periods` + 1 rising edges with
 * `timer` (a GPIO input wired to that channel), and turns the mean period into the oscillator frequency at the
 * driver's prescale. The channel is switched off afterwards. Disconnect any servo from the channel first.
 */
export async function measurePca9685Oscillator(
  driver: Pca9685,
  channel: number,
  timer: EdgeTimer,
  options: MeasureOscillatorOptions = {},
): Promise<OscillatorMeasurement> {
  const { signal, periods = 50 } = options;
  signal?.throwIfAborted();
  if (!(Number.isInteger(periods) && periods >= 1)) {
    throw new ServoError(
      "SERVO_INVALID_OPTION",
      `periods must be a whole number ≥ 1, got ${String(periods)}.`,
    );
  }
  await driver.setPwm(channel, 0, 2048, { signal });
  let edges: readonly number[];
  try {
    edges = await timer.risingEdgesUs(periods + 1, { signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ServoError(
      "SERVO_CALIBRATION_FAILED",
      `No edges could be timed on PCA9685 channel ${channel} (${(error as Error).message}). Check the wire from the ` +
        "channel's signal pin to the GPIO input, or measure the period with a scope and pass it instead.",
      { channel, cause: error },
    );
  } finally {
    await driver.release(channel).catch(() => undefined);
  }
  const first = edges[0];
  const last = edges.at(-1);
  if (edges.length !== periods + 1 || first === undefined || last === undefined || !(last > first)) {
    throw new ServoError(
      "SERVO_CALIBRATION_FAILED",
      `The edge timer returned ${edges.length} increasing timestamps, not the ${periods + 1} asked for.`,
      { channel },
    );
  }
  return oscillatorMeasurement((last - first) / periods, driver.prescale, periods);
}
