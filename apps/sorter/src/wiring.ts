import { defaultClassifier, loadCalibration } from "@skittlesorter/classifier";
import type { ChutePositions, SensorSettings, SorterPositions } from "./config/index.ts";
import type { SorterHardware } from "./hardware.ts";
import type { SkittleClassifier, SorterOptions } from "./sorter.ts";

/** The calibration file's classifier when the `Sensor` section names one, else the default calibration. */
export async function classifierFor(sensor: SensorSettings): Promise<SkittleClassifier> {
  return sensor.calibrationFile === undefined
    ? defaultClassifier()
    : await loadCalibration(sensor.calibrationFile);
}

/** The configuration sections the sorting loop takes its positions and read counts from. */
export interface LoopConfig {
  positions: SorterPositions;
  chutes: ChutePositions;
  sensor: SensorSettings;
}

/** The loop's options that come straight from the configuration and the opened hardware. */
export function sorterWiring(
  config: LoopConfig,
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
