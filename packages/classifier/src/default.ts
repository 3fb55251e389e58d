import {
  CALIBRATION_FORMAT,
  CalibratedClassifier,
  type CalibrationData,
  features,
  type Matrix3,
} from "./calibrated.ts";
import { EMPTY, type RgbcLike, type SkittleLabel } from "./labels.ts";
import { ORIGINAL_MOCK_READINGS, ORIGINAL_NEUTRAL_READING } from "./original.ts";

/**
 * Reference RGBC counts per class at ATIME 0xC0 (153.6 ms) and 16× gain: the original mock sensor's values for the
 * five colours, and its neutral reading for the empty slot. Real rigs differ; calibrate yours.
 */
export const REFERENCE_READINGS: Readonly<Record<SkittleLabel, Readonly<RgbcLike>>> = Object.freeze({
  red: ORIGINAL_MOCK_READINGS.Red,
  green: ORIGINAL_MOCK_READINGS.Green,
  orange: ORIGINAL_MOCK_READINGS.Orange,
  yellow: ORIGINAL_MOCK_READINGS.Yellow,
  purple: ORIGINAL_MOCK_READINGS.Purple,
  [EMPTY]: ORIGINAL_NEUTRAL_READING,
});

/** A starting calibration built from {@link REFERENCE_READINGS} with a 3 % spread per feature, until you calibrate your rig. */
export const DEFAULT_CALIBRATION: Readonly<CalibrationData> = Object.freeze({
  format: CALIBRATION_FORMAT,
  version: 1,
  feature: "rgb/clear",
  rejectDistance: 6,
  minStd: 0.004,
  classes: Object.entries(REFERENCE_READINGS).map(([label, reading]) => {
    const mean = features(reading) ?? [0, 0, 0];
    const variance = mean.map((value) => (value * 0.03) ** 2);
    const covariance = [0, 1, 2].map((i) => [0, 1, 2].map((j) => (i === j ? (variance[i] ?? 0) : 0)));
    return { label, mean, covariance: covariance as unknown as Matrix3, count: 1 };
  }),
  meta: { source: "reference readings (original mock sensor), ATIME 0xC0, gain 16x" },
});

/** A classifier with {@link DEFAULT_CALIBRATION}. */
export function defaultClassifier(): CalibratedClassifier {
  return CalibratedClassifier.fromJSON(DEFAULT_CALIBRATION);
}
