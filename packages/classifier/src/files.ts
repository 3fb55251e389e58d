import { randomUUID } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import type { OperationOptions } from "@skittlesorter/core";
import { CalibratedClassifier } from "./calibrated.ts";
import { ClassifierError, isClassifierError } from "./errors.ts";

/** Writes the calibration as JSON to `path` (atomically: a temporary file, then rename). */
export async function saveCalibration(
  classifier: CalibratedClassifier,
  path: string,
  options: OperationOptions = {},
): Promise<void> {
  const { signal } = options;
  signal?.throwIfAborted();
  const temporary = `${path}.${randomUUID()}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(classifier.toJSON(), null, 2)}\n`, { signal });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    if (signal?.aborted && error === signal.reason) throw error;
    throw new ClassifierError(
      "CLASSIFIER_IO_ERROR",
      `Could not write the calibration to ${path}: ${(error as Error).message}. Check that the directory exists and is writable.`,
      { path, cause: error },
    );
  }
}

/** Reads a calibration saved by {@link saveCalibration}; errors name the file and what is wrong with it. */
export async function loadCalibration(
  path: string,
  options: OperationOptions = {},
): Promise<CalibratedClassifier> {
  const { signal } = options;
  signal?.throwIfAborted();
  let text: string;
  try {
    text = await readFile(path, { encoding: "utf8", signal });
  } catch (error) {
    if (signal?.aborted && error === signal.reason) throw error;
    if ((error as { code?: unknown }).code === "ENOENT") {
      throw new ClassifierError(
        "CLASSIFIER_CALIBRATION_NOT_FOUND",
        `No calibration file at ${path}. Record labelled readings of every colour and the empty slot, then ` +
          "calibrate() and saveCalibration() (or fix the path).",
        { path, cause: error },
      );
    }
    throw new ClassifierError(
      "CLASSIFIER_IO_ERROR",
      `Could not read the calibration ${path}: ${(error as Error).message}. Check the path and its permissions.`,
      { path, cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ClassifierError(
      "CLASSIFIER_INVALID_CALIBRATION",
      `${path} is not valid JSON (${(error as Error).message}). Restore it or calibrate again.`,
      { path, cause: error },
    );
  }
  try {
    return CalibratedClassifier.fromJSON(json);
  } catch (error) {
    if (isClassifierError(error)) {
      throw new ClassifierError(error.code, `${path}: ${error.message}`, { path, cause: error });
    }
    throw error;
  }
}
