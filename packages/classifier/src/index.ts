export {
  averageReadings,
  CALIBRATION_FORMAT,
  CalibratedClassifier,
  type CalibrateOptions,
  type CalibrationData,
  type ClassCentroid,
  type Classification,
  calibrate,
  type Features,
  features,
  type LabelledReading,
  type Matrix3,
  parseCalibration,
  type RejectReason,
} from "./calibrated.ts";
export { DEFAULT_CALIBRATION, defaultClassifier, REFERENCE_READINGS } from "./default.ts";
export { ClassifierError, type ClassifierErrorCode, isClassifierError } from "./errors.ts";
export { loadCalibration, saveCalibration } from "./files.ts";
export {
  EMPTY,
  type RgbcLike,
  SKITTLE_COLORS,
  type SkittleColor,
  type SkittleLabel,
  UNKNOWN,
} from "./labels.ts";
export {
  classifyOriginal,
  classifyOriginalReading,
  fromOriginalColor,
  ORIGINAL_MOCK_READINGS,
  ORIGINAL_MOCK_SEQUENCE,
  ORIGINAL_NEUTRAL_READING,
  type OriginalColor,
  originalMockReading,
} from "./original.ts";
