import { defaultClassifier, loadCalibration } from "@skittlesorter/classifier";
import type { SorterConfig } from "./config.ts";
import type { SorterHardware } from "./hardware.ts";
import type { SkittleClassifier, SorterOptions } from "./sorter.ts";

/** The calibration file's classifier when the config names one, else the default calibration. */
export async function classifierFor(config: SorterConfig): Promise<SkittleClassifier> {
  return config.sensor.calibrationFile === undefined
    ? defaultClassifier()
    : await loadCalibration(config.sensor.calibrationFile);
}

/** The loop's options that come straight from the configuration and the opened hardware. */
export function sorterWiring(
  config: SorterConfig,
  hardware: SorterHardware,
  classifier: SkittleClassifier,
): Pick<
  SorterOptions,
  | "sensor"
  | "pick"
  | "chute"
  | "classifier"
  | "positions"
  | "chutes"
  | "readsPerSkittle"
  | "clock"
  | "emptyPicksBeforeIdle"
> {
  return {
    sensor: hardware.sensor,
    pick: hardware.pick,
    chute: hardware.chute,
    classifier,
    positions: config.positions,
    chutes: config.chutes,
    readsPerSkittle: config.sensor.readsPerSkittle,
    clock: hardware.clock,
    emptyPicksBeforeIdle: config.sensor.emptyPicksBeforeIdle,
  };
}
