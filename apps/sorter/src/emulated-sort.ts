import type { Logger, OperationOptions } from "@skittlesorter/core";
import { resolveConfig, type SorterConfig } from "./config/index.ts";
import { ConfigError, SorterError } from "./errors.ts";
import { openEmulatedHardware } from "./hardware.ts";
import type { RigItem } from "./rig.ts";
import { type SkittleClassifier, Sorter, type SortTiming, type StopReason } from "./sorter.ts";
import { classifierFor, sorterWiring } from "./wiring.ts";

export interface EmulatedSortOptions extends OperationOptions {
  /** Skittles in the hopper (random colours from `seed`). Default: the configuration's `EmulatedRig.Skittles` (100). */
  skittles?: number | undefined;
  /**
   * Seeds the hopper's colours, candy-to-candy colour variation and sensor noise: the same seed gives the same
   * skittles, whatever the timing. Default: the configuration's `EmulatedRig.Seed` (1).
   */
  seed?: number | undefined;
  /** The hopper's exact contents (instead of `skittles` random colours). */
  items?: readonly RigItem[] | undefined;
  /** `"derived"` (default): waits from the servo speed model; or fixed sleeps, e.g. `ORIGINAL_FIXED_SLEEPS`. */
  timing?: SortTiming | undefined;
  /**
   * Positions, chutes, servo calibration (what the loop believes) and `EmulatedRig` (the rig's real servo speed,
   * time scale). Must have the emulated rig enabled. Default: the built-in defaults, emulated, telemetry off.
   */
  config?: SorterConfig | undefined;
  /** Default: the configuration's `Sensor.CalibrationFile`, else the built-in calibration. */
  classifier?: SkittleClassifier | undefined;
  logger?: Logger | undefined;
}

export interface EmulatedSortResult {
  timing: "derived" | "fixed-sleep";
  /** Items taken from the hopper (gaps included). */
  fed: number;
  /** Objects that landed in a bin (or on the floor). */
  sorted: number;
  correct: number;
  misplaced: number;
  /** correct ÷ sorted (1 when nothing was sorted). */
  accuracy: number;
  /** Sorted objects per minute of rig time, first pick to last drop. */
  skittlesPerMinute: number;
  /** Rig time from the first pick to the last drop (virtual ms, not real time). */
  rigTimeMs: number;
  /** Bin name (or `floor`) → item colour → count. */
  bins: Record<string, Record<string, number>>;
  emptyPicks: number;
  stopReason: StopReason;
}

/**
 * Runs the sorting loop ({@link Sorter}) on the emulated rig until the hopper is empty and reports what landed
 * where: accuracy and skittles per minute of rig time. Runs on a virtual clock unless the configuration sets
 * `EmulatedRig.TimeScale`, so hundreds of skittles take well under a second and the result is deterministic for a
 * given seed and timing.
 */
export async function runEmulatedSort(options: EmulatedSortOptions = {}): Promise<EmulatedSortResult> {
  const { signal, logger } = options;
  const base =
    options.config ?? resolveConfig({ IoTHub: { SendTelemetry: false }, EmulatedRig: { Enabled: true } });
  if (!base.emulated) {
    throw new ConfigError("CONFIG_INVALID", base.file, [
      {
        path: "EmulatedRig.Enabled",
        message: "runEmulatedSort needs the emulated rig, but this configuration drives real hardware.",
        fix: "Set EmulatedRig.Enabled (or both MockMode flags) to true, or leave out `config` for the defaults.",
      },
    ]);
  }
  const config: SorterConfig = {
    ...base,
    rig: {
      ...base.rig,
      skittles: options.skittles ?? base.rig.skittles,
      seed: options.seed ?? base.rig.seed,
    },
  };
  const classifier = options.classifier ?? (await classifierFor(config.sensor));
  const hardware = await openEmulatedHardware(config, {
    logger,
    signal,
    items: options.items,
  });
  try {
    const timing = options.timing ?? "derived";
    const sorter = new Sorter({
      ...sorterWiring(config, hardware, classifier),
      logger,
      timing,
      onHopperEmpty: "stop",
    });
    const summary = await sorter.run({ signal });
    const report = hardware.rig?.report();
    if (report === undefined) {
      throw new SorterError(
        "HARDWARE_FAILED",
        "The emulated hardware came without its rig, so nothing can be measured. This is a bug in the sorter: report it.",
      );
    }
    return {
      timing: timing === "derived" ? "derived" : "fixed-sleep",
      fed: report.fed,
      sorted: report.sorted,
      correct: report.correct,
      misplaced: report.misplaced,
      accuracy: report.accuracy,
      skittlesPerMinute: report.skittlesPerMinute,
      rigTimeMs: report.elapsedMs,
      bins: report.bins,
      emptyPicks: summary.emptyPicks,
      stopReason: summary.stopReason,
    };
  } finally {
    await hardware.close();
  }
}
