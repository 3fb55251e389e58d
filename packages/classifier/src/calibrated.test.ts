import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import {
  averageReadings,
  CalibratedClassifier,
  calibrate,
  classifyOriginalReading,
  defaultClassifier,
  fromOriginalColor,
  type LabelledReading,
  loadCalibration,
  ORIGINAL_MOCK_READINGS,
  ORIGINAL_NEUTRAL_READING,
  type RgbcLike,
  saveCalibration,
} from "./index.ts";
import { createSkittleGenerator, seededRandom } from "./testing.ts";

const READS_PER_SKITTLE = 3;

function calibrationSamples(seed: number, perClass: number): LabelledReading[] {
  const generator = createSkittleGenerator({ random: seededRandom(seed) });
  return generator.labels.flatMap((label) =>
    Array.from({ length: perClass }, () => ({
      label,
      reading: averageReadings(generator.reads(label, READS_PER_SKITTLE)) as RgbcLike,
    })),
  );
}

describe("calibrated classifier", () => {
  it("is at least 99 % right on 600 noisy emulated readings of the five colours and the empty slot", () => {
    const classifier = calibrate(calibrationSamples(7, 20));
    const generator = createSkittleGenerator({ random: seededRandom(42) });
    expect(generator.labels).toEqual(["red", "green", "orange", "yellow", "purple", "empty"]);
    const confusion = new Map<string, number>();
    let correct = 0;
    for (const label of generator.labels) {
      for (let index = 0; index < 100; index += 1) {
        const result = classifier.classify(generator.reads(label, READS_PER_SKITTLE));
        if (result.label === label) correct += 1;
        else confusion.set(`${label}→${result.label}`, (confusion.get(`${label}→${result.label}`) ?? 0) + 1);
      }
    }
    expect(correct / 600, JSON.stringify(Object.fromEntries(confusion))).toBeGreaterThanOrEqual(0.99);
  });

  it("does better than the original thresholds on the same noisy readings", () => {
    const classifier = calibrate(calibrationSamples(3, 20));
    const generator = createSkittleGenerator({ random: seededRandom(11) });
    let calibrated = 0;
    let original = 0;
    for (const label of generator.labels) {
      for (let index = 0; index < 50; index += 1) {
        const reads = generator.reads(label, READS_PER_SKITTLE);
        if (classifier.classify(reads).label === label) calibrated += 1;
        if (fromOriginalColor(classifyOriginalReading(averageReadings(reads) as RgbcLike)) === label)
          original += 1;
      }
    }
    expect(calibrated).toBeGreaterThan(original);
  });

  it("answers unknown for a colour it was not calibrated on, with the nearest class and distance", () => {
    const classifier = calibrate(calibrationSamples(5, 15));
    const blueCandy = { clear: 20000, red: 3000, green: 6000, blue: 11000 };
    const result = classifier.classify(blueCandy);
    expect(result).toMatchObject({ label: "unknown", reason: "too-far" });
    expect(result.nearest).toBeDefined();
    expect(result.distance).toBeGreaterThan(classifier.rejectDistance);
    expect(classifier.withRejectDistance(1e6).classify(blueCandy).label).toBe(result.nearest);
  });

  it("averages several reads, skips saturated ones, and rejects saturated, dark or no input", () => {
    const classifier = defaultClassifier();
    const saturated = { clear: 65535, red: 30000, green: 30000, blue: 30000 };
    const red = ORIGINAL_MOCK_READINGS.Red;
    expect(classifier.classify([red, saturated, { ...red, clear: 25200 }])).toMatchObject({
      label: "red",
      reading: { clear: 25100 },
    });
    expect(classifier.classify([saturated, { ...red, saturated: true }])).toMatchObject({
      label: "unknown",
      reason: "saturated",
    });
    expect(classifier.classify({ clear: 0, red: 0, green: 0, blue: 0 })).toMatchObject({ reason: "dark" });
    expect(classifier.classify([])).toMatchObject({ label: "unknown", reason: "no-readings" });
  });

  it("averages and classifies auto-ranged reads by their normalised counts", () => {
    const classifier = defaultClassifier();
    const red = ORIGINAL_MOCK_READINGS.Red;
    // The same red skittle, once at the reference settings and once auto-ranged to a quarter of the gain.
    const atReference = { ...red, normalized: { ...red } };
    const quarter = {
      clear: red.clear / 4,
      red: red.red / 4,
      green: red.green / 4,
      blue: red.blue / 4,
      normalized: { ...red, clear: red.clear + 400 },
    };
    expect(averageReadings([atReference, quarter])).toMatchObject({ clear: red.clear + 200, red: red.red });
    expect(classifier.classify([atReference, quarter])).toMatchObject({ label: "red" });
    // The original thresholds are counts at 153.6 ms and 16×: normalised counts keep them working.
    const neutral = ORIGINAL_NEUTRAL_READING;
    const dimmed = {
      clear: neutral.clear / 4,
      red: neutral.red / 4,
      green: neutral.green / 4,
      blue: neutral.blue / 4,
    };
    expect(classifyOriginalReading({ ...dimmed, normalized: { ...neutral } })).toBe("None");
    // An averaged auto-ranged reading may exceed 16-bit counts without being saturated: it still calibrates.
    const bright = (scale: number) => ({
      clear: red.clear * scale,
      red: red.red * scale,
      green: red.green * scale,
      blue: red.blue * scale,
      saturated: false,
    });
    const grey = (scale: number) => ({ ...bright(scale), red: red.clear * scale * 0.4 });
    expect(() =>
      calibrate([
        { label: "red", reading: bright(4) },
        { label: "red", reading: bright(4.1) },
        { label: "grey", reading: grey(4) },
        { label: "grey", reading: grey(4.2) },
      ]),
    ).not.toThrow();
    expect(classifyOriginalReading(dimmed)).not.toBe("None");
  });

  it("has a default calibration that agrees with the original on the original's mock readings", () => {
    const classifier = defaultClassifier();
    for (const [name, reading] of Object.entries(ORIGINAL_MOCK_READINGS)) {
      if (name === "None") continue;
      expect(classifier.classify(reading).label).toBe(fromOriginalColor(classifyOriginalReading(reading)));
    }
    expect(classifier.classify(ORIGINAL_NEUTRAL_READING).label).toBe("empty");
    expect(classifier.labels).toEqual(["red", "green", "orange", "yellow", "purple", "empty"]);
  });

  it.each([
    [[{ label: "red", reading: ORIGINAL_MOCK_READINGS.Red }], /at least two classes/],
    [
      [
        { label: "red", reading: ORIGINAL_MOCK_READINGS.Red },
        { label: "red", reading: ORIGINAL_MOCK_READINGS.Red },
        { label: "green", reading: ORIGINAL_MOCK_READINGS.Green },
      ],
      /Class "green" has 1 sample/,
    ],
    [[{ label: "unknown", reading: ORIGINAL_MOCK_READINGS.Red }], /other than "unknown"/],
    [[{ label: "empty", reading: ORIGINAL_MOCK_READINGS.None }], /samples\[0\] \(empty\) is saturated/],
  ])("refuses unusable calibration samples (%#)", (samples, message) => {
    expect(() => calibrate(samples)).toThrow(
      expect.objectContaining({
        code: "CLASSIFIER_INVALID_SAMPLES",
        message: expect.stringMatching(message),
      }),
    );
  });

  it("round-trips through JSON and classifies identically", () => {
    const classifier = calibrate(calibrationSamples(9, 10), { rejectDistance: 5, meta: { gain: 16 } });
    const json = JSON.parse(JSON.stringify(classifier));
    const copy = CalibratedClassifier.fromJSON(json);
    expect(copy.toJSON()).toEqual(classifier.toJSON());
    expect(copy.meta).toEqual({ gain: 16 });
    const generator = createSkittleGenerator({ random: seededRandom(1) });
    for (const label of generator.labels) {
      const reads = generator.reads(label, 3);
      expect(copy.classify(reads)).toEqual(classifier.classify(reads));
    }
  });

  it.each([
    [{}, /format must be "skittlesorter-classifier-calibration"/],
    [{ version: 2 }, /version must be 1/],
    [{ rejectDistance: -1 }, /rejectDistance must be a positive number/],
    [{ classes: [] }, /classes must list at least two classes/],
    [{ "classes.1.mean": [1, 2] }, /classes\[1\]\.mean must be an array of 3 finite numbers/],
    [
      {
        "classes.0.covariance": [
          [1, 0, 0],
          [0.5, 1, 0],
          [0, 0, 1],
        ],
      },
      /classes\[0\]\.covariance must be symmetric/,
    ],
    [{ "classes.2.label": "red" }, /classes\[2\]\.label repeats "red"/],
  ])("names the bad field of an invalid calibration (%o)", (patch, message) => {
    const json = defaultClassifier().toJSON() as unknown as Record<string, unknown>;
    const base: Record<string, unknown> =
      Object.keys(patch).length === 0 ? { ...json, format: "other" } : { ...json };
    for (const [key, value] of Object.entries(patch)) {
      const [head, index, field] = key.split(".");
      if (field === undefined) base[key] = value;
      else
        ((base[head as string] as Array<Record<string, unknown>>)[Number(index)] as Record<string, unknown>)[
          field
        ] = value;
    }
    expect(() => CalibratedClassifier.fromJSON(base)).toThrow(
      expect.objectContaining({
        code: "CLASSIFIER_INVALID_CALIBRATION",
        message: expect.stringMatching(message),
      }),
    );
  });
});

describe("calibration files", () => {
  it("saves and loads a calibration", async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "calibration.json");
    const classifier = calibrate(calibrationSamples(4, 10));
    await saveCalibration(classifier, path);
    const loaded = await loadCalibration(path);
    expect(loaded.toJSON()).toEqual(classifier.toJSON());
  });

  it("explains a missing file, bad JSON and a bad field, naming the file", async () => {
    await using dir = await tempDir();
    const missing = join(dir.path, "nope.json");
    await expect(loadCalibration(missing)).rejects.toMatchObject({
      code: "CLASSIFIER_CALIBRATION_NOT_FOUND",
      path: missing,
      message: expect.stringContaining("calibrate() and saveCalibration()"),
    });
    const broken = join(dir.path, "broken.json");
    await writeFile(broken, "{ not json");
    await expect(loadCalibration(broken)).rejects.toMatchObject({
      code: "CLASSIFIER_INVALID_CALIBRATION",
      message: expect.stringContaining(`${broken} is not valid JSON`),
    });
    const wrong = join(dir.path, "wrong.json");
    await writeFile(wrong, JSON.stringify({ ...defaultClassifier().toJSON(), minStd: "small" }));
    await expect(loadCalibration(wrong)).rejects.toMatchObject({
      code: "CLASSIFIER_INVALID_CALIBRATION",
      message: expect.stringMatching(/wrong\.json: Invalid calibration: minStd must be a positive number/),
    });
  });

  it("reports an unwritable destination as CLASSIFIER_IO_ERROR", async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "missing-dir", "calibration.json");
    await expect(saveCalibration(defaultClassifier(), path)).rejects.toMatchObject({
      code: "CLASSIFIER_IO_ERROR",
      path,
    });
  });
});
