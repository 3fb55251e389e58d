import { ClassifierError } from "./errors.ts";
import { type RgbcLike, UNKNOWN } from "./labels.ts";

/** Feature vector of a reading: its clear-normalised chromaticity (R/C, G/C, B/C). */
export type Features = readonly [number, number, number];

/** A labelled reading for calibration. */
export interface LabelledReading {
  label: string;
  reading: RgbcLike;
}

/** A symmetric 3 × 3 matrix, row by row. */
export type Matrix3 = readonly [Features, Features, Features];

/** One calibrated class: the mean of its features and their covariance. */
export interface ClassCentroid {
  label: string;
  mean: Features;
  /** Covariance of the features (already blended with the pooled covariance at calibration). */
  covariance: Matrix3;
  /** How many samples it was calibrated from. */
  count: number;
}

/** The JSON form of a calibration (what {@link CalibratedClassifier.toJSON} returns and `saveCalibration` writes). */
export interface CalibrationData {
  format: typeof CALIBRATION_FORMAT;
  version: 1;
  feature: "rgb/clear";
  rejectDistance: number;
  minStd: number;
  classes: ClassCentroid[];
  /** Free-form notes kept with the calibration, e.g. the sensor settings it was taken with. */
  meta?: Record<string, unknown> | undefined;
}

export const CALIBRATION_FORMAT = "skittlesorter-classifier-calibration";

export interface CalibrateOptions {
  /** Readings farther than this from every class (Mahalanobis distance, i.e. in standard deviations) are "unknown". Default 6. */
  rejectDistance?: number | undefined;
  /** Added (squared) to every variance, so very tight classes do not reject everything. Default 0.004. */
  minStd?: number | undefined;
  /**
   * Weight of the pooled (all-class) covariance in each class's covariance, 0…1. Blending steadies classes with few
   * samples. Default 0.5.
   */
  shrinkage?: number | undefined;
  /** Stored with the calibration (e.g. `{ integrationTimeMs, gain }`). */
  meta?: Record<string, unknown> | undefined;
}

/** Why a classification came out "unknown". */
export type RejectReason = "no-readings" | "saturated" | "dark" | "too-far";

export interface Classification {
  /** The class, or "unknown". */
  label: string;
  /** The nearest class even when rejected; undefined when the reading could not be used at all. */
  nearest: string | undefined;
  /** Distance to the nearest class in its standard deviations (Infinity when unusable). */
  distance: number;
  /** Distance to the second-nearest class minus {@link distance}: how clear-cut the answer is. */
  margin: number;
  /** Set when the label is "unknown". */
  reason?: RejectReason;
  /** The averaged reading that was classified. */
  reading: RgbcLike | undefined;
}

/** The clear-normalised chromaticity of a reading (of its `normalized` counts when present), or undefined when clear is 0. */
export function features(reading: RgbcLike): Features | undefined {
  const { clear, red, green, blue } = reading.normalized ?? reading;
  if (!(clear > 0)) return undefined;
  return [red / clear, green / clear, blue / clear];
}

/**
 * A reading's own flag decides; counts at full scale only when it has none. (Normalised counts of an auto-ranged reading
 * can exceed 65535 without being saturated.)
 */
function isSaturated(reading: RgbcLike): boolean {
  return reading.saturated ?? reading.clear >= 65535;
}

/**
 * The channel-wise mean of several reads of the same target, skipping saturated ones; undefined when none is left.
 */
export function averageReadings(readings: readonly RgbcLike[]): RgbcLike | undefined {
  const usable = readings
    .filter((reading) => !isSaturated(reading))
    .map((reading) => reading.normalized ?? reading);
  if (usable.length === 0) return undefined;
  const sum = usable.reduce(
    (total, reading) => ({
      clear: total.clear + reading.clear,
      red: total.red + reading.red,
      green: total.green + reading.green,
      blue: total.blue + reading.blue,
    }),
    { clear: 0, red: 0, green: 0, blue: 0 },
  );
  const n = usable.length;
  return {
    clear: sum.clear / n,
    red: sum.red / n,
    green: sum.green / n,
    blue: sum.blue / n,
    saturated: false,
  };
}

function invalidSamples(message: string): ClassifierError {
  return new ClassifierError("CLASSIFIER_INVALID_SAMPLES", message);
}

/**
 * Builds a classifier from labelled readings: per class, the mean and covariance of the clear-normalised
 * chromaticity (blended with the pooled covariance, see `shrinkage`). Every class needs at least two usable (unsaturated, non-dark) samples. Take them as the sorter
 * will classify: same sensor settings, same number of averaged reads per sample.
 */
export function calibrate(
  samples: readonly LabelledReading[],
  options: CalibrateOptions = {},
): CalibratedClassifier {
  const { rejectDistance = 6, minStd = 0.004, shrinkage = 0.5, meta } = options;
  if (!(shrinkage >= 0 && shrinkage <= 1)) {
    throw invalidSamples(`shrinkage must be between 0 and 1, got ${String(shrinkage)}.`);
  }
  const byLabel = new Map<string, Features[]>();
  samples.forEach(({ label, reading }, index) => {
    if (typeof label !== "string" || label.length === 0 || label === UNKNOWN) {
      throw invalidSamples(
        `samples[${index}] has label ${JSON.stringify(label)}; use a class name other than "unknown".`,
      );
    }
    const vector = isSaturated(reading) ? undefined : features(reading);
    if (vector === undefined || vector.some((value) => !Number.isFinite(value))) {
      throw invalidSamples(
        `samples[${index}] (${label}) is saturated or dark (clear = ${reading.clear}); lower the gain or ` +
          "integration time, or check the LED, and record it again.",
      );
    }
    const list = byLabel.get(label) ?? [];
    list.push(vector);
    byLabel.set(label, list);
  });
  if (byLabel.size < 2) {
    throw invalidSamples(
      `Calibration needs at least two classes, got ${byLabel.size}; record every colour and the empty slot.`,
    );
  }
  const stats = [...byLabel].map(([label, vectors]) => {
    if (vectors.length < 2) {
      throw invalidSamples(
        `Class "${label}" has ${vectors.length} sample; record at least two (10 to 20 is better).`,
      );
    }
    const mean = AXES.map(
      (axis) => vectors.reduce((sum, v) => sum + v[axis], 0) / vectors.length,
    ) as unknown as Features;
    const covariance = AXES.map((i) =>
      AXES.map(
        (j) =>
          vectors.reduce((sum, v) => sum + (v[i] - mean[i]) * (v[j] - mean[j]), 0) / (vectors.length - 1),
      ),
    ) as unknown as Matrix3;
    return { label, mean, covariance, count: vectors.length };
  });
  const pooled = AXES.map((i) =>
    AXES.map((j) => stats.reduce((sum, entry) => sum + entry.covariance[i][j], 0) / stats.length),
  ) as unknown as Matrix3;
  const classes: ClassCentroid[] = stats.map(({ label, mean, covariance, count }) => ({
    label,
    mean,
    covariance: AXES.map((i) =>
      AXES.map((j) => (1 - shrinkage) * covariance[i][j] + shrinkage * pooled[i][j]),
    ) as unknown as Matrix3,
    count,
  }));
  return new CalibratedClassifier({
    format: CALIBRATION_FORMAT,
    version: 1,
    feature: "rgb/clear",
    rejectDistance,
    minStd,
    classes,
    meta,
  });
}

const AXES = [0, 1, 2] as const;

/** Inverse of a 3 × 3 matrix, or undefined when it is singular. */
function invert(m: Matrix3): Matrix3 | undefined {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const A = e * i - f * h;
  const B = f * g - d * i;
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!(Math.abs(det) > 0) || !Number.isFinite(det)) return undefined;
  return [
    [A / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [B / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [C / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

function fail(path: string, problem: string): never {
  throw new ClassifierError(
    "CLASSIFIER_INVALID_CALIBRATION",
    `Invalid calibration: ${path} ${problem}. Re-create it with calibrate() and saveCalibration().`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function vector(value: unknown, path: string): Features {
  if (
    !Array.isArray(value) ||
    value.length !== 3 ||
    !value.every((x) => typeof x === "number" && Number.isFinite(x))
  ) {
    fail(path, "must be an array of 3 finite numbers");
  }
  return [value[0], value[1], value[2]] as Features;
}

/** Checks a parsed calibration file and returns it typed; throws CLASSIFIER_INVALID_CALIBRATION naming the bad field. */
export function parseCalibration(json: unknown): CalibrationData {
  if (!isRecord(json)) fail("the document", "must be a JSON object");
  if (json.format !== CALIBRATION_FORMAT) fail("format", `must be "${CALIBRATION_FORMAT}"`);
  if (json.version !== 1)
    fail("version", `must be 1 (got ${JSON.stringify(json.version)}); this file is from another release`);
  if (json.feature !== "rgb/clear") fail("feature", 'must be "rgb/clear"');
  const { rejectDistance, minStd, classes, meta } = json;
  if (typeof rejectDistance !== "number" || !(rejectDistance > 0))
    fail("rejectDistance", "must be a positive number");
  if (typeof minStd !== "number" || !(minStd > 0)) fail("minStd", "must be a positive number");
  if (!Array.isArray(classes) || classes.length < 2) fail("classes", "must list at least two classes");
  const seen = new Set<string>();
  const parsed = classes.map((entry: unknown, index): ClassCentroid => {
    const at = `classes[${index}]`;
    if (!isRecord(entry)) fail(at, "must be an object");
    const { label, count } = entry;
    if (typeof label !== "string" || label.length === 0 || label === UNKNOWN) {
      fail(`${at}.label`, 'must be a non-empty string other than "unknown"');
    }
    if (seen.has(label)) fail(`${at}.label`, `repeats "${label}"`);
    seen.add(label);
    if (typeof count !== "number" || !Number.isInteger(count) || count < 1)
      fail(`${at}.count`, "must be a positive integer");
    const covariance = entry.covariance;
    if (!Array.isArray(covariance) || covariance.length !== 3)
      fail(`${at}.covariance`, "must be a 3 × 3 matrix");
    const rows = covariance.map((row: unknown, r) =>
      vector(row, `${at}.covariance[${r}]`),
    ) as unknown as Matrix3;
    if (
      !AXES.every((r) => rows[r][r] >= 0 && AXES.every((c) => Math.abs(rows[r][c] - rows[c][r]) <= 1e-12))
    ) {
      fail(`${at}.covariance`, "must be symmetric with non-negative variances on its diagonal");
    }
    return { label, mean: vector(entry.mean, `${at}.mean`), covariance: rows, count };
  });
  if (meta !== undefined && !isRecord(meta)) fail("meta", "must be an object when present");
  return {
    format: CALIBRATION_FORMAT,
    version: 1,
    feature: "rgb/clear",
    rejectDistance,
    minStd,
    classes: parsed,
    meta,
  };
}

/**
 * Nearest-centroid colour classifier on clear-normalised chromaticity, with a per-class Mahalanobis distance (the
 * distance in the class's standard deviations, along the directions its readings actually vary) and a reject threshold: readings far from every class, saturated
 * or dark are "unknown". The empty slot is an ordinary class (by convention labelled "empty").
 */
export class CalibratedClassifier {
  readonly #data: CalibrationData;
  readonly #inverses: Matrix3[];

  /** Use {@link calibrate} or {@link CalibratedClassifier.fromJSON}. */
  constructor(data: CalibrationData) {
    this.#data = parseCalibration(data);
    const ridge = this.#data.minStd ** 2;
    this.#inverses = this.#data.classes.map(({ label, covariance }, index) => {
      const regularised = AXES.map((i) =>
        AXES.map((j) => covariance[i][j] + (i === j ? ridge : 0)),
      ) as unknown as Matrix3;
      const inverse = invert(regularised);
      if (inverse === undefined) fail(`classes[${index}].covariance`, `of "${label}" cannot be inverted`);
      return inverse;
    });
  }

  /** Checks and loads the JSON form (see `loadCalibration` for files). */
  static fromJSON(json: unknown): CalibratedClassifier {
    return new CalibratedClassifier(parseCalibration(json));
  }

  get classes(): readonly ClassCentroid[] {
    return this.#data.classes;
  }

  get labels(): readonly string[] {
    return this.#data.classes.map((entry) => entry.label);
  }

  get rejectDistance(): number {
    return this.#data.rejectDistance;
  }

  get meta(): Readonly<Record<string, unknown>> | undefined {
    return this.#data.meta;
  }

  /** The same classes with another reject threshold. */
  withRejectDistance(rejectDistance: number): CalibratedClassifier {
    return new CalibratedClassifier({ ...this.#data, rejectDistance });
  }

  /** Mahalanobis distance of a feature vector to each class, nearest first. */
  distances(vector: Features): Array<{ label: string; distance: number }> {
    return this.#data.classes
      .map(({ label, mean }, index) => {
        const inverse = this.#inverses[index] as Matrix3;
        const delta = AXES.map((axis) => vector[axis] - mean[axis]) as unknown as Features;
        let squared = 0;
        for (const i of AXES) for (const j of AXES) squared += delta[i] * inverse[i][j] * delta[j];
        return { label, distance: Math.sqrt(Math.max(0, squared)) };
      })
      .sort((a, b) => a.distance - b.distance);
  }

  /** Classifies one reading, or the average of several reads of the same target (saturated reads are skipped). */
  classify(readings: RgbcLike | readonly RgbcLike[]): Classification {
    const list: readonly RgbcLike[] = Array.isArray(readings) ? readings : [readings as RgbcLike];
    const unknown = (reason: RejectReason, reading: RgbcLike | undefined): Classification => ({
      label: UNKNOWN,
      nearest: undefined,
      distance: Number.POSITIVE_INFINITY,
      margin: 0,
      reason,
      reading,
    });
    if (list.length === 0) return unknown("no-readings", undefined);
    const reading = averageReadings(list);
    if (reading === undefined) return unknown("saturated", undefined);
    const vector = features(reading);
    if (vector === undefined) return unknown("dark", reading);
    const [best, second] = this.distances(vector);
    if (best === undefined) return unknown("no-readings", reading);
    const margin = (second?.distance ?? Number.POSITIVE_INFINITY) - best.distance;
    const result = { nearest: best.label, distance: best.distance, margin, reading };
    if (best.distance > this.#data.rejectDistance) return { label: UNKNOWN, ...result, reason: "too-far" };
    return { label: best.label, ...result };
  }

  toJSON(): CalibrationData {
    return structuredClone(this.#data);
  }
}
