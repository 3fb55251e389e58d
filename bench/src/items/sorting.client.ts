// Item 6, client side: the sorting loop on the emulated rig (virtual time), ours (waits derived from the servo speed
// model, chute and arm overlapped) vs the original's fixed sleeps, on the same skittles, alternating run by run;
// then two experiments on servos slower than the configuration says.
import { performance } from "node:perf_hooks";
import {
  type EmulatedSortResult,
  ORIGINAL_FIXED_SLEEPS,
  resolveConfig,
  runEmulatedSort,
  type SortTiming,
} from "@skittlesorter/sorter";

export interface Input {
  skittles: number;
  seed: number;
  warmup: number;
  runs: number;
  /** The rig's real servo speed in the experiments (s/60°), slower than the configured 0.2. */
  slowServoSecondsPer60Deg: number;
  /** The configured speed with a margin, for the second experiment. */
  marginSecondsPer60Deg: number;
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
    positions: { pick: number; detect: number; drop: number };
    chutes: Record<string, number>;
    integrationTimeMs: number;
  };
  ours: Run[];
  fixed: Run[];
  slowServos: { ours: Run; fixed: Run };
  margin: { ours: Run; fixed: Run };
}

export async function measure(input: Input): Promise<Output> {
  const base = { IoTHub: { SendTelemetry: false }, EmulatedRig: { Enabled: true } };
  const config = resolveConfig(base);
  const slow = resolveConfig({
    ...base,
    EmulatedRig: { Enabled: true, ServoSecondsPer60Deg: input.slowServoSecondsPer60Deg },
  });
  const margin = resolveConfig({
    ...base,
    EmulatedRig: { Enabled: true, ServoSecondsPer60Deg: input.slowServoSecondsPer60Deg },
    Hardware: {
      PickServo: { SecondsPer60Deg: input.marginSecondsPer60Deg },
      ChuteServo: { SecondsPer60Deg: input.marginSecondsPer60Deg },
    },
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
  return {
    model: {
      secondsPer60Deg: config.hardware.pick.secondsPer60Deg,
      positions: config.positions,
      chutes: { ...config.chutes },
      integrationTimeMs: config.sensor.integrationTimeMs,
    },
    ours,
    fixed,
    slowServos: { ours: await sort("derived", slow), fixed: await sort(ORIGINAL_FIXED_SLEEPS, slow) },
    margin: { ours: await sort("derived", margin), fixed: await sort(ORIGINAL_FIXED_SLEEPS, margin) },
  };
}
