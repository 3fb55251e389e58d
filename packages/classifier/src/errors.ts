import { errorGuard, SkittleError } from "@skittlesorter/core";

export type ClassifierErrorCode =
  | "CLASSIFIER_INVALID_SAMPLES"
  | "CLASSIFIER_INVALID_CALIBRATION"
  | "CLASSIFIER_CALIBRATION_NOT_FOUND"
  | "CLASSIFIER_IO_ERROR";

export class ClassifierError extends SkittleError<ClassifierErrorCode> {
  /** The calibration file involved, when there was one. */
  readonly path: string | undefined;

  constructor(code: ClassifierErrorCode, message: string, details: { path?: string; cause?: unknown } = {}) {
    super(code, message, { cause: details.cause });
    this.path = details.path;
  }
}

/** True for a {@link ClassifierError}, also across copies of this package. */
export const isClassifierError = errorGuard<ClassifierError>("ClassifierError", "CLASSIFIER_");
