// Item 6, client side: the sorting loop on the emulated rig (virtual time), ours (waits derived from the servo speed
// model plus the default travel margin, chute and arm overlapped) vs the original's fixed sleeps, on the same
// skittles, alternating run by run; then experiments: no travel margin, servos slower than configured, and the
// slowest servos each policy still sorts correctly.
import { performance } from "node:perf_hooks";
import {
  type EmulatedSortResult,
  ORIGINAL_FIXED_SLEEPS,
  resolveConfig,
  runEmulatedSort,
  type SorterConfig,
  type SortTiming,
} from "@skittlesorter/sorter";

export interface Input {
  skittles: number;
  seed: number;
  warmup: number;
  runs: number;
  /** The rig's real servo speed in the slow-servo experiment (s/60°), slower than the configured 0.2. */
  slowServoSecondsPer60Deg: number;
  /** The tolerance scan: servo slowdowns from 0 % in these steps, up to `scanMaxPercent`. */
  scanStepPercent: number;
  scanMaxPercent: number;
}

export interface Run extends Omit<EmulatedSortResult, "bins" | "stopReason"> {
  bins: Record<string, number>;
  /** Real time the emulation took (CPU cost of the rig model, not a sorting figure). */
  realMs: number;
}

export interface Output {
  /** The configuration's servo model and positions. */
  model: {
    secondsPer60Deg: number;
    travelMarginPercent: number;
    positions: { pick: number; detect: number; drop: number };
    chutes: Record<string, number>;
    integrationTimeMs: number;
  };
  ours: Run[];
  fixed: Run[];
  /** Ours with `Hardware.TravelMarginPercent` 0, servos as fast as configured. */
  noMargin: Run;
  slowServos: { ours: Run; oursNoMargin: Run; fixed: Run };
  /**
   * The largest servo slowdown (in % of the configured time per 60°, from 0 in `scanStepPercent` steps) at which
   * every skittle still lands in its bin, and what happened one step further (null: the scan never failed).
   */
  tolerance: { ours: Tolerance; oursNoMargin: Tolerance; fixed: Tolerance };
  /** Ours with the travel margin set to the fixed sleeps' tolerance: its speed and its own tolerance. */
  matched: { marginPercent: number; run: Run; tolerance: Tolerance };
}

export interface Tolerance {
  /** Null when the first step already fails. */
  percent: number | null;
  firstFailure: { percent: number; fed: number; sorted: number; correct: number; misplaced: number } | null;
}

export async function measure(input: Input): Promise<Output> {
  const base = { IoTHub: { SendTelemetry: false }, EmulatedRig: { Enabled: true } };
  const config = resolveConfig(base);
  const configured = config.hardware.pick.secondsPer60Deg;
  const rig = (options: {
    rigSecondsPer60Deg?: number | undefined;
    marginPercent?: number | undefined;
  }): SorterConfig =>
    resolveConfig({
      ...base,
      EmulatedRig: {
        Enabled: true,
        ...(options.rigSecondsPer60Deg === undefined
          ? {}
          : { ServoSecondsPer60Deg: options.rigSecondsPer60Deg }),
      },
      ...(options.marginPercent === undefined
        ? {}
        : { Hardware: { TravelMarginPercent: options.marginPercent } }),
    });
  const sort = async (timing: SortTiming, which = config): Promise<Run> => {
    const started = performance.now();
    const {
      bins,
      stopReason: _,
      ...result
    } = await runEmulatedSort({
      skittles: input.skittles,
      seed: input.seed,
      timing,
      config: which,
    });
    const realMs = performance.now() - started;
    const perBin = Object.fromEntries(
      Object.entries(bins).map(([bin, items]) => [bin, Object.values(items).reduce((a, b) => a + b, 0)]),
    );
    return { ...result, bins: perBin, realMs };
  };
  const allCorrect = (run: Run): boolean => run.correct === input.skittles && run.misplaced === 0;
  /** Slowdowns from 0 up: the last one before the first that misplaces or misses a skittle. */
  const tolerance = async (timing: SortTiming, marginPercent?: number): Promise<Tolerance> => {
    let last: number | null = null;
    for (let percent = 0; percent <= input.scanMaxPercent; percent += input.scanStepPercent) {
      const which = rig({
        rigSecondsPer60Deg: configured * (1 + percent / 100),
        marginPercent,
      });
      const run = await sort(timing, which);
      if (!allCorrect(run)) {
        const { fed, sorted, correct, misplaced } = run;
        return { percent: last, firstFailure: { percent, fed, sorted, correct, misplaced } };
      }
      last = percent;
    }
    return { percent: last, firstFailure: null };
  };

  for (let index = 0; index < input.warmup; index += 1) {
    await sort("derived");
    await sort(ORIGINAL_FIXED_SLEEPS);
  }
  const ours: Run[] = [];
  const fixed: Run[] = [];
  for (let index = 0; index < input.runs; index += 1) {
    ours.push(await sort("derived"));
    fixed.push(await sort(ORIGINAL_FIXED_SLEEPS));
  }
  const slow = rig({ rigSecondsPer60Deg: input.slowServoSecondsPer60Deg });
  const slowNoMargin = rig({ rigSecondsPer60Deg: input.slowServoSecondsPer60Deg, marginPercent: 0 });
  const fixedTolerance = await tolerance(ORIGINAL_FIXED_SLEEPS);
  const matchedMargin = fixedTolerance.percent ?? 0;
  return {
    model: {
      secondsPer60Deg: configured,
      travelMarginPercent: config.hardware.travelMarginPercent,
      positions: config.positions,
      chutes: { ...config.chutes },
      integrationTimeMs: config.sensor.integrationTimeMs,
    },
    ours,
    fixed,
    noMargin: await sort("derived", rig({ marginPercent: 0 })),
    slowServos: {
      ours: await sort("derived", slow),
      oursNoMargin: await sort("derived", slowNoMargin),
      fixed: await sort(ORIGINAL_FIXED_SLEEPS, slow),
    },
    tolerance: {
      ours: await tolerance("derived"),
      oursNoMargin: await tolerance("derived", 0),
      fixed: fixedTolerance,
    },
    matched: {
      marginPercent: matchedMargin,
      run: await sort("derived", rig({ marginPercent: matchedMargin })),
      tolerance: await tolerance("derived", matchedMargin),
    },
  };
}
