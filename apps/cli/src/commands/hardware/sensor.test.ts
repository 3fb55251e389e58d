import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EMPTY, loadCalibration, SKITTLE_COLORS } from "@skittlesorter/classifier";
import { createSkittleGenerator, seededRandom } from "@skittlesorter/classifier/testing";
import { runProgram } from "@skittlesorter/cli-shell";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";
import { skittleProgram } from "../../skittle-program.ts";
import type { LineInput } from "./input.ts";
import { createSensorCommands } from "./sensor.ts";
import type { SensorCalibrateResult } from "./sensor-calibrate.ts";
import type { SensorReadResult } from "./sensor-read.ts";

const LABELS = [...SKITTLE_COLORS, EMPTY];
/** Short integrations keep the emulated reads quick (they run on the real clock). */
const FAST = ["--integration-ms", "24", "--interval-ms", "0"];
const FAST_CAL = ["--integration-ms", "24"];

let dir: TempDir;

beforeAll(async () => {
  dir = await tempDir("skittle-cli-sensor-");
});

afterAll(async () => {
  await dir[Symbol.asyncDispose]();
});

/** Runs `skittle sensor …` with scripted operator input. */
async function runWithInput(argv: readonly string[], answers: readonly string[]) {
  const queue = [...answers];
  let reads = 0;
  let closed = false;
  const input = (): LineInput => ({
    terminal: false,
    readLine: async () => {
      reads += 1;
      return queue.shift();
    },
    close: () => {
      closed = true;
    },
  });
  let stdout = "";
  let stderr = "";
  const io = {
    stdout: (text: string) => {
      stdout += text;
    },
    stderr: (text: string) => {
      stderr += text;
    },
    cwd: dir.path,
  };
  const code = await runProgram(skittleProgram(io, [createSensorCommands({ input })]), argv, io);
  return { code, stdout, stderr, reads, closed };
}

describe("skittle sensor read", () => {
  it("reads raw RGBC, lux, colour temperature and the class from the emulated rig", async () => {
    const run = await runCli(["sensor", "read", "--emulated", "--emulated-color", "purple", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as SensorReadResult;
    expect(result).toMatchObject({
      index: 1,
      bus: 1,
      address: "0x29",
      chipId: "0x44",
      emulated: true,
      presented: "purple",
      integrationTimeMs: 153.6,
      gain: 16,
      saturated: false,
      classification: { label: "purple", nearest: "purple", calibration: "default" },
    });
    // The original mock sensor's purple is about C=23000 R=11000 G=8000 B=5500 at these settings.
    expect(result.clear).toBeGreaterThan(15_000);
    expect(result.clear).toBeLessThan(30_000);
    expect(result.red).toBeGreaterThan(result.green);
    expect(result.green).toBeGreaterThan(result.blue);
    expect(result.lux).toBeGreaterThan(0);
    expect(result.colorTemperatureK).toBeGreaterThan(0);
  });

  it("prints a readable report", async () => {
    const run = await runCli(["sensor", "read", "--emulated", "--emulated-color", "red", ...FAST]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("TCS34725 (ID 0x44) at 0x29, emulated rig, presenting a red skittle");
    expect(run.stdout).toContain("Settings:    24 ms integration, 16x gain");
    expect(run.stdout).toMatch(/Raw: +C=\d+ R=\d+ G=\d+ B=\d+/);
    expect(run.stdout).toMatch(/Lux: +\d/);
    expect(run.stdout).toMatch(/Colour temp: +\d+ K/);
    expect(run.stdout).toMatch(/Class: +red \(distance [\d.]+, margin [\d.]+\) \[calibration: default\]/);
  });

  it("cycles through every colour and the empty slot with --count, one JSON object per line", async () => {
    const run = await runCli(["sensor", "read", "--emulated", "--count", "6", "--json", ...FAST]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(6);
    const results = lines.map((line) => JSON.parse(line) as SensorReadResult);
    expect(results.map((result) => result.index)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(results.map((result) => result.presented)).toEqual(LABELS);
    expect(results.map((result) => result.classification.label)).toEqual(LABELS);
  });

  it("watches until --count and prints a line per reading", async () => {
    const run = await runCli(["sensor", "read", "--emulated", "--watch", "--count", "3", ...FAST]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^#1 {2}C=\d+ R=\d+ G=\d+ B=\d+ {2}lux=[\d.]+ {2}CCT=\d+K {2}-> red \(/);
    expect(lines[2]).toMatch(/^#3 .*-> orange .*\[emulated orange\]$/);
  });

  it("stops watching cleanly on Ctrl-C (SIGINT) with exit 0", async () => {
    const before = process.listeners("SIGINT");
    const running = runCli(["sensor", "read", "--emulated", "--watch", "--json", "--integration-ms", "24"]);
    let ours: ((signal: NodeJS.Signals) => void) | undefined;
    while (ours === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      ours = process.listeners("SIGINT").find((listener) => !before.includes(listener));
    }
    await new Promise((resolve) => setTimeout(resolve, 600));
    ours("SIGINT");
    const run = await running;
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    // Whatever was read before Ctrl-C came out whole, one reading per line.
    const lines = run.stdout.split("\n").filter((line) => line !== "");
    const indexes = lines.map((line) => (JSON.parse(line) as SensorReadResult).index);
    expect(indexes).toEqual(indexes.map((_, position) => position + 1));
    expect(process.listeners("SIGINT")).toEqual(before);
  });

  it("passes gain and integration time to the chip", async () => {
    const read = async (extra: string[]) =>
      JSON.parse(
        (
          await runCli([
            "sensor",
            "read",
            "--emulated",
            "--emulated-color",
            "yellow",
            "--json",
            "--seed",
            "7",
            ...extra,
          ])
        ).stdout,
      ) as SensorReadResult;
    const high = await read(["--integration-ms", "48", "--gain", "16"]);
    const low = await read(["--integration-ms", "48", "--gain", "4"]);
    const short = await read(["--integration-ms", "24", "--gain", "4"]);
    expect(low.gain).toBe(4);
    expect(short.integrationTimeMs).toBe(24);
    // Same skittle (same seed): counts scale with gain and integration time, within the read noise.
    expect(high.clear / low.clear).toBeGreaterThan(3.6);
    expect(high.clear / low.clear).toBeLessThan(4.4);
    expect(low.clear / short.clear).toBeGreaterThan(1.8);
    expect(low.clear / short.clear).toBeLessThan(2.2);
  });

  it("fails with the i2c package's error and exit 1 without the emulated rig (no /dev/i2c-1 here)", async () => {
    const run = await runCli(["sensor", "read"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^error \[I2C_(BUS_NOT_FOUND|MODULE_UNAVAILABLE)\]: /);
    expect(run.stderr).toMatch(/\/dev\/i2c-1|i2c-bus/);
  });

  it("says what is wrong with a missing calibration file", async () => {
    const run = await runCli(["sensor", "read", "--emulated", "--calibration", "missing.json"], dir.path);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error [CLASSIFIER_CALIBRATION_NOT_FOUND]");
    expect(run.stderr).toContain(join(dir.path, "missing.json"));
  });

  it.each([
    [["--emulated", "--gain", "3"], "--gain"],
    [["--emulated", "--integration-ms", "1000"], "--integration-ms"],
    [["--emulated", "--integration-ms", "fast"], "--integration-ms"],
    [["--emulated-color", "red"], "--emulated-color needs --emulated"],
    [["--emulated", "--emulated-color", "blue"], "--emulated-color"],
    [["--emulated", "--address", "0x99"], "--address"],
    [["--emulated", "--count", "0"], "--count"],
    [["--emulated", "--bus", "one"], "--bus"],
  ])("exits 2 on a usage error: %j", async (extra, message) => {
    const run = await runCli(["sensor", "read", ...extra]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe("skittle sensor calibrate", () => {
  it("calibrates on the emulated rig with --yes and writes a file the classifier loads", async () => {
    const run = await runCli(
      [
        "sensor",
        "calibrate",
        "--emulated",
        "--yes",
        "--samples",
        "4",
        "--reads",
        "2",
        "--out",
        "cal/calibration.json",
        "--json",
        ...FAST_CAL,
      ],
      dir.path,
    );
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain("press Enter");
    expect(run.stderr).toContain(
      "Calibrating 6 labels x 4 samples x 2 reads at 24 ms, 16x gain (emulated rig)",
    );
    const result = JSON.parse(run.stdout) as SensorCalibrateResult;
    const file = join(dir.path, "cal", "calibration.json");
    expect(result).toMatchObject({
      file,
      labels: LABELS,
      samplesPerLabel: 4,
      readsPerSample: 2,
      integrationTimeMs: 24,
      gain: 16,
      emulated: true,
    });
    for (const label of LABELS) expect(result.selfCheck[label]).toEqual({ correct: 4, total: 4 });

    const classifier = await loadCalibration(file);
    expect([...classifier.labels].sort()).toEqual([...LABELS].sort());
    expect(classifier.meta).toMatchObject({
      integrationTimeMs: 24,
      gain: 16,
      samplesPerLabel: 4,
      readsPerSample: 2,
    });
    // Fresh skittles (another seed) classify correctly with the saved calibration.
    const generator = createSkittleGenerator({ random: seededRandom(99) });
    for (const label of LABELS) {
      expect(classifier.classify(generator.reads(label, 3)).label).toBe(label);
    }

    // The sensor command reads with it.
    const read = await runCli(
      [
        "sensor",
        "read",
        "--emulated",
        "--emulated-color",
        "green",
        "--calibration",
        "cal/calibration.json",
        "--json",
        ...FAST,
      ],
      dir.path,
    );
    expect(read.code).toBe(0);
    expect((JSON.parse(read.stdout) as SensorReadResult).classification).toMatchObject({
      label: "green",
      calibration: file,
    });
  });

  it("refuses to replace a calibration without --force", async () => {
    const file = join(dir.path, "existing.json");
    await writeFile(file, "{}\n");
    const run = await runCli(
      [
        "sensor",
        "calibrate",
        "--emulated",
        "--yes",
        "--samples",
        "2",
        "--reads",
        "1",
        "--out",
        "existing.json",
        ...FAST_CAL,
      ],
      dir.path,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error [CALIBRATION_EXISTS]");
    expect(run.stderr).toContain("--force");
    expect(await readFile(file, "utf8")).toBe("{}\n");

    const forced = await runCli(
      [
        "sensor",
        "calibrate",
        "--emulated",
        "--yes",
        "--samples",
        "2",
        "--reads",
        "1",
        "--out",
        "existing.json",
        "--force",
        ...FAST_CAL,
      ],
      dir.path,
    );
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`Calibration written: ${file}`);
    await expect(loadCalibration(file)).resolves.toBeDefined();
  });

  it("guides the operator: one prompt on stderr and one Enter per sample, colours then the empty slot", async () => {
    const run = await runWithInput(
      [
        "sensor",
        "calibrate",
        "--emulated",
        "--samples",
        "2",
        "--reads",
        "1",
        "--out",
        "guided.json",
        ...FAST_CAL,
      ],
      Array.from({ length: 12 }, () => ""),
    );
    expect(run.code).toBe(0);
    expect(run.reads).toBe(12);
    expect(run.closed).toBe(true);
    const prompts = run.stderr.split("\n").filter((line) => line.includes("press Enter"));
    expect(prompts).toHaveLength(12);
    expect(prompts[0]).toContain("Place a red skittle under the sensor and press Enter (sample 1/2)");
    expect(prompts[1]).toContain(
      "Place a red skittle under the sensor and press Enter (sample 2/2, a different one)",
    );
    expect(prompts[2]).toContain("Place a green skittle under the sensor and press Enter");
    expect(prompts[11]).toContain("Leave the slot under the sensor empty and press Enter (sample 2/2");
    expect(run.stdout).not.toContain("press Enter");
    const classifier = await loadCalibration(join(dir.path, "guided.json"));
    expect(classifier.labels).toHaveLength(6);
  });

  it("writes nothing when the input ends early", async () => {
    const run = await runWithInput(
      [
        "sensor",
        "calibrate",
        "--emulated",
        "--samples",
        "2",
        "--reads",
        "1",
        "--out",
        "partial.json",
        ...FAST_CAL,
      ],
      ["", "", ""],
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error [INPUT_CLOSED]");
    expect(run.stderr).toContain("at green, sample 2/2");
    expect(run.closed).toBe(true);
    await expect(access(join(dir.path, "partial.json"))).rejects.toThrow();
  });

  it("fails with exit 1 on real hardware that is not there, before asking anything", async () => {
    const run = await runWithInput(["sensor", "calibrate", "--out", "hw.json"], []);
    expect(run.code).toBe(1);
    expect(run.reads).toBe(0);
    expect(run.stderr).toMatch(/error \[I2C_(BUS_NOT_FOUND|MODULE_UNAVAILABLE)\]/);
  });

  it.each([
    [["--out", "x.json", "--yes"], "--yes needs --emulated"],
    [["--out", "x.json", "--emulated", "--samples", "1"], "--samples"],
    [["--out", "x.json", "--emulated", "--reads", "0"], "--reads"],
    [["--emulated", "--yes"], "--out"],
  ])("exits 2 on a usage error: %j", async (extra, message) => {
    const run = await runCli(["sensor", "calibrate", ...extra], dir.path);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe("skittle sensor help", () => {
  it.each(["read", "calibrate"])("prints help for sensor %s", async (name) => {
    const run = await runCli(["sensor", name, "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Usage: skittle sensor ${name}`);
    expect(run.stdout).toContain("--emulated");
    expect(run.stdout).toContain("--json");
  });
});
