import { access, mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import {
  averageReadings,
  type CalibratedClassifier,
  type Classification,
  calibrate,
  defaultClassifier,
  EMPTY,
  type LabelledReading,
  loadCalibration,
  saveCalibration,
} from "@skittlesorter/classifier";
import type { CommandContext, CommandGroup } from "@skittlesorter/cli-shell";
import { CliError, usageError } from "@skittlesorter/cli-shell";
import { delay } from "@skittlesorter/core";
import { dn40, type RgbcReading, type Tcs34725Gain } from "@skittlesorter/tcs34725";
import { type Command, Option } from "commander";
import {
  finiteOrNull,
  hex,
  parseI2cAddressOption,
  parseIntegerOption,
  parseNumberOption,
  rounded,
} from "./args.ts";
import { type LineInput, streamLineInput } from "./input.ts";
import { interruptOnSigint, isInterrupt } from "./interrupt.ts";
import { EMULATED_LABELS, openSensorRig, type SensorRig, type SensorRigOptions } from "./sensor-rig.ts";

/** One reading as `skittle sensor read --json` prints it. */
export interface SensorReadResult {
  /** 1-based, counts the readings of this run. */
  index: number;
  bus: number;
  address: string;
  chipId: string;
  emulated: boolean;
  /** Emulated rig: the skittle that was under the sensor. */
  presented?: string | undefined;
  integrationTimeMs: number;
  gain: Tcs34725Gain;
  clear: number;
  red: number;
  green: number;
  blue: number;
  /** Clear reached saturation (with --auto-range: even at the least sensitive setting). */
  saturated: boolean;
  /** Whether --auto-range was on. */
  autoRange: boolean;
  /** The counts scaled to --integration-ms and --gain (differs from the raw counts when auto-ranging moved). */
  normalized: { clear: number; red: number; green: number; blue: number };
  /** DN40 lux; null when saturated or meaningless. */
  lux: number | null;
  colorTemperatureK: number | null;
  classification: {
    label: string;
    nearest: string | null;
    distance: number | null;
    margin: number | null;
    reason?: string | undefined;
    /** "default" or the calibration file used. */
    calibration: string;
  };
}

/** What `skittle sensor calibrate --json` prints. */
export interface SensorCalibrateResult {
  file: string;
  labels: string[];
  samplesPerLabel: number;
  readsPerSample: number;
  integrationTimeMs: number;
  gain: Tcs34725Gain;
  emulated: boolean;
  /** How many of each label's own samples the new calibration classifies as that label. */
  selfCheck: Record<string, { correct: number; total: number }>;
}

export interface SensorCommandsOptions {
  /** Where `sensor calibrate` reads the operator's Enter presses. Default: lines of `process.stdin`. */
  input?: (() => LineInput) | undefined;
}

interface SensorCommonOptions {
  bus: string;
  address: string;
  gain: string;
  integrationMs: string;
  autoRange?: boolean | undefined;
  emulated?: boolean | undefined;
  emulatedBrightness: string;
  seed: string;
  json?: boolean | undefined;
}

interface ReadOptions extends SensorCommonOptions {
  calibration?: string | undefined;
  watch?: boolean | undefined;
  count?: string | undefined;
  intervalMs: string;
  emulatedColor?: string | undefined;
}

interface CalibrateCliOptions extends SensorCommonOptions {
  out: string;
  samples: string;
  reads: string;
  yes?: boolean | undefined;
  force?: boolean | undefined;
}

const GAINS = ["1", "4", "16", "60"];

function addCommonOptions(command: Command): Command {
  return command
    .option("--bus <n>", "I2C bus number (/dev/i2c-N; the Pi header is bus 1)", "1")
    .option("--address <addr>", "7-bit I2C address of the sensor", "0x29")
    .addOption(new Option("--gain <x>", "analog gain").choices(GAINS).default("16"))
    .option("--integration-ms <ms>", "integration time, 2.4-614.4 ms in 2.4 ms steps", "153.6")
    .option(
      "--auto-range",
      "step gain/integration down when clear nears saturation and up when too dark; readings are also shown " +
        "normalised to --gain and --integration-ms",
    )
    .option(
      "--emulated",
      "use the emulated rig (a TCS34725 emulator on a fake I2C bus, looking at virtual skittles) instead of hardware",
    )
    .option("--seed <n>", "seed of the emulated skittles (repeatable runs)", "1")
    .option(
      "--emulated-brightness <factor>",
      "emulated rig: light level relative to the reference rig (e.g. 4 saturates at 16x gain)",
      "1",
    )
    .option("--json", "print JSON");
}

function rigOptions(options: SensorCommonOptions, emulatedColor?: string): SensorRigOptions {
  const seed = parseIntegerOption("--seed", options.seed, 0, 2 ** 32 - 1);
  return {
    busNumber: parseIntegerOption("--bus", options.bus, 0, 255),
    address: parseI2cAddressOption("--address", options.address),
    gain: Number(options.gain) as Tcs34725Gain,
    integrationTimeMs: parseNumberOption("--integration-ms", options.integrationMs, 2.4, 614.4),
    autoRange: options.autoRange === true,
    emulated:
      options.emulated === true
        ? {
            seed,
            color: emulatedColor,
            brightness: parseNumberOption("--emulated-brightness", options.emulatedBrightness, 0.001, 1000),
          }
        : undefined,
  };
}

/** The `skittle sensor` commands, with the operator input injectable (tests pass scripted lines). */
export function createSensorCommands(commandOptions: SensorCommandsOptions = {}): CommandGroup {
  const input = commandOptions.input ?? (() => streamLineInput());
  return (program, context) => {
    const sensor = program
      .command("sensor")
      .description(
        "Bring up the TCS34725 colour sensor: raw readings, lux, colour temperature, classification, calibration.",
      );

    const read = addCommonOptions(
      sensor
        .command("read")
        .description(
          "Read the sensor: raw clear/red/green/blue counts, DN40 lux and colour temperature, and the skittle class " +
            "(default calibration unless --calibration). With --watch or --count > 1 it prints one line per reading " +
            "(--json: one JSON object per line) until --count readings or Ctrl-C.",
        ),
    )
      .option("--calibration <file>", "classify with this calibration file (from `skittle sensor calibrate`)")
      .option("--watch", "read repeatedly until --count readings or Ctrl-C")
      .option("--count <n>", "number of readings")
      .option("--interval-ms <ms>", "pause between readings", "250")
      .addOption(
        new Option(
          "--emulated-color <label>",
          "emulated rig: always present this skittle (default: cycle through all)",
        ).choices([...EMULATED_LABELS]),
      )
      .action(async (options: ReadOptions) => runRead(context(read), options));

    const calibrateCommand = addCommonOptions(
      sensor
        .command("calibrate")
        .description(
          `Guided calibration: for each label (${EMULATED_LABELS.join(", ")}) it asks on stderr for a skittle under ` +
            "the sensor (or the empty slot) and waits for Enter on stdin, --samples times per label (a different " +
            "skittle each time), averages --reads readings per sample, then writes the calibration file the sorter " +
            "loads. With --emulated --yes the emulated rig presents each label by itself.",
        ),
    )
      .requiredOption("--out <file>", "calibration file to write (JSON)")
      .option("--samples <n>", "samples per label (different skittles), at least 2", "10")
      .option("--reads <n>", "readings averaged per sample (use what the sorter takes per skittle)", "3")
      .option("--yes", "do not prompt (emulated rig only: it presents the right skittle for each label)")
      .option("--force", "replace an existing calibration file")
      .action(async (options: CalibrateCliOptions) =>
        runCalibrate(context(calibrateCommand), options, input),
      );
  };
}

/** Registers the `skittle sensor` commands (operator input from stdin). */
export const sensorCommands: CommandGroup = createSensorCommands();

async function loadClassifier(
  ctx: CommandContext,
  file: string | undefined,
): Promise<{ classifier: CalibratedClassifier; name: string }> {
  if (file === undefined) return { classifier: defaultClassifier(), name: "default" };
  if (file.trim() === "") throw usageError("--calibration must not be empty");
  const path = resolve(ctx.io.cwd, file);
  return { classifier: await loadCalibration(path), name: path };
}

async function runRead(ctx: CommandContext, options: ReadOptions): Promise<void> {
  if (options.emulatedColor !== undefined && options.emulated !== true) {
    throw usageError("--emulated-color needs --emulated");
  }
  const rig = rigOptions(options, options.emulatedColor);
  const count =
    options.count === undefined
      ? options.watch === true
        ? Number.POSITIVE_INFINITY
        : 1
      : parseIntegerOption("--count", options.count, 1, Number.MAX_SAFE_INTEGER);
  const intervalMs = parseIntegerOption("--interval-ms", options.intervalMs, 0, 3_600_000);
  const { classifier, name } = await loadClassifier(ctx, options.calibration);
  const lineMode = count !== 1;

  const interrupt = interruptOnSigint();
  let opened: SensorRig | undefined;
  try {
    opened = await openSensorRig({ ...rig, signal: interrupt.signal });
    for (let index = 1; index <= count; index += 1) {
      if (index > 1 && intervalMs > 0) await delay(intervalMs, { signal: interrupt.signal });
      const presented = opened.present();
      const reading = await opened.read(interrupt.signal);
      const result = readResult(index, rig, opened, presented, reading, classifier.classify(reading), name);
      if (lineMode) {
        ctx.io.stdout(options.json === true ? `${JSON.stringify(result)}\n` : `${readLine(result)}\n`);
      } else {
        ctx.print(result, readReport(result));
      }
    }
  } catch (error) {
    if (!isInterrupt(interrupt, error)) throw error;
  } finally {
    interrupt.dispose();
    await opened?.close();
  }
}

function readResult(
  index: number,
  rig: SensorRigOptions,
  opened: SensorRig,
  presented: string | undefined,
  reading: RgbcReading,
  classification: Classification,
  calibration: string,
): SensorReadResult {
  const light = dn40(reading);
  return {
    index,
    bus: rig.busNumber,
    address: hex(rig.address),
    chipId: hex(opened.sensor.id),
    emulated: opened.emulated,
    presented,
    integrationTimeMs: reading.integrationTimeMs,
    gain: reading.gain,
    clear: reading.clear,
    red: reading.red,
    green: reading.green,
    blue: reading.blue,
    saturated: reading.saturated,
    autoRange: rig.autoRange === true,
    normalized: reading.normalized,
    lux: finiteOrNull(light?.lux),
    colorTemperatureK: finiteOrNull(light?.colorTemperatureK),
    classification: {
      label: classification.label,
      nearest: classification.nearest ?? null,
      distance: finiteOrNull(classification.distance),
      margin: finiteOrNull(classification.margin),
      reason: classification.reason,
      calibration,
    },
  };
}

const raw = (r: { clear: number; red: number; green: number; blue: number }): string =>
  `C=${Math.round(r.clear)} R=${Math.round(r.red)} G=${Math.round(r.green)} B=${Math.round(r.blue)}`;

function classText(result: SensorReadResult): string {
  const c = result.classification;
  const how =
    c.reason !== undefined
      ? `${c.reason}${c.nearest === null ? "" : `; nearest ${c.nearest}`}`
      : `distance ${c.distance === null ? "-" : rounded(c.distance)}, margin ${c.margin === null ? "-" : rounded(c.margin)}`;
  return `${c.label} (${how})`;
}

function readReport(result: SensorReadResult): string {
  const where = result.emulated
    ? `emulated rig${result.presented === undefined ? "" : `, presenting ${result.presented === EMPTY ? "the empty slot" : `a ${result.presented} skittle`}`}`
    : `I2C bus ${result.bus}`;
  const lines = [
    `Sensor:      TCS34725 (ID ${result.chipId}) at ${result.address}, ${where}`,
    `Settings:    ${result.integrationTimeMs} ms integration, ${result.gain}x gain`,
    `Raw:         ${raw(result)}`,
    ...(result.autoRange ? [`Normalised:  ${raw(result.normalized)} (at --integration-ms and --gain)`] : []),
    `Lux:         ${result.lux === null ? "-" : rounded(result.lux, 1)}`,
    `Colour temp: ${result.colorTemperatureK === null ? "-" : `${Math.round(result.colorTemperatureK)} K`}`,
    `Class:       ${classText(result)} [calibration: ${result.classification.calibration}]`,
  ];
  if (result.saturated) {
    lines.push(
      result.autoRange
        ? "SATURATED:   even the least sensitive setting saturates; shade the sensor or dim the LED."
        : "SATURATED:   the clear channel is at full scale; lower --gain or --integration-ms, or pass --auto-range.",
    );
  }
  return lines.join("\n");
}

function readLine(result: SensorReadResult): string {
  const parts = [
    `#${result.index}`,
    raw(result),
    ...(result.autoRange ? [`@${result.integrationTimeMs}ms/${result.gain}x`] : []),
    `lux=${result.lux === null ? "-" : rounded(result.lux, 1)}`,
    `CCT=${result.colorTemperatureK === null ? "-" : `${Math.round(result.colorTemperatureK)}K`}`,
    `-> ${classText(result)}`,
  ];
  if (result.saturated) parts.push("SATURATED");
  if (result.presented !== undefined) parts.push(`[emulated ${result.presented}]`);
  return parts.join("  ");
}

function promptFor(label: string, sample: number, samples: number): string {
  const what =
    label === EMPTY ? "Leave the slot under the sensor empty" : `Place a ${label} skittle under the sensor`;
  return `${what} and press Enter (sample ${sample}/${samples}${sample > 1 ? ", a different one" : ""}): `;
}

async function runCalibrate(
  ctx: CommandContext,
  options: CalibrateCliOptions,
  input: () => LineInput,
): Promise<void> {
  if (options.out.trim() === "") throw usageError("--out must not be empty");
  if (options.yes === true && options.emulated !== true) {
    throw usageError(
      "--yes needs --emulated: on real hardware someone must place each skittle under the sensor and press Enter",
    );
  }
  const rig = rigOptions(options);
  const samples = parseIntegerOption("--samples", options.samples, 2, 1000);
  const reads = parseIntegerOption("--reads", options.reads, 1, 100);
  const out = resolve(ctx.io.cwd, options.out);
  if (options.force !== true && (await exists(out))) {
    throw new CliError(
      "CALIBRATION_EXISTS",
      `${out} already exists: pass --force to replace this calibration, or choose another --out.`,
    );
  }

  const { collected, settings } = await collectSamples(ctx, rig, samples, reads, () =>
    options.yes === true ? undefined : input(),
  );
  const classifier = calibrate(collected, {
    meta: {
      ...settings,
      samplesPerLabel: samples,
      readsPerSample: reads,
      createdAt: new Date().toISOString(),
      tool: "skittle sensor calibrate",
    },
  });
  const selfCheck = selfCheckOf(classifier, collected);
  await mkdir(dirname(out), { recursive: true });
  await saveCalibration(classifier, out);

  const result: SensorCalibrateResult = {
    file: out,
    labels: [...EMULATED_LABELS],
    samplesPerLabel: samples,
    readsPerSample: reads,
    ...settings,
    selfCheck,
  };
  const weak = Object.entries(selfCheck).filter(([, { correct, total }]) => correct < total);
  ctx.print(
    result,
    [
      `Calibration written: ${out}`,
      `Self-check (own samples classified as their label): ${Object.entries(selfCheck)
        .map(([label, { correct, total }]) => `${label} ${correct}/${total}`)
        .join(", ")}`,
      ...(weak.length === 0
        ? []
        : [
            `Some ${weak.map(([label]) => label).join(", ")} samples do not classify as their own label: shield the sensor from ambient light, ` +
              "check the skittle sits at the same place each time, and calibrate again with more --samples.",
          ]),
      `Use it: skittle sensor read --calibration ${out}`,
    ].join("\n"),
  );
}

interface SampleRun {
  collected: LabelledReading[];
  settings: { integrationTimeMs: number; gain: Tcs34725Gain; emulated: boolean };
}

/** Prompts for and reads every label's samples; nothing is written here. */
async function collectSamples(
  ctx: CommandContext,
  rig: SensorRigOptions,
  samples: number,
  reads: number,
  openInput: () => LineInput | undefined,
): Promise<SampleRun> {
  const interrupt = interruptOnSigint();
  let lines: LineInput | undefined;
  let opened: SensorRig | undefined;
  const collected: LabelledReading[] = [];
  try {
    opened = await openSensorRig({ ...rig, signal: interrupt.signal });
    lines = openInput();
    ctx.io.stderr(
      `Calibrating ${EMULATED_LABELS.length} labels x ${samples} samples x ${reads} reads at ` +
        `${opened.sensor.integrationTimeMs} ms, ${opened.sensor.gain}x gain${opened.emulated ? " (emulated rig)" : ""}.\n`,
    );
    for (const label of EMULATED_LABELS) {
      for (let sample = 1; sample <= samples; sample += 1) {
        if (lines !== undefined) {
          ctx.io.stderr(promptFor(label, sample, samples));
          const answer = await lines.readLine();
          if (!lines.terminal) ctx.io.stderr("\n");
          if (answer === undefined) {
            throw new CliError(
              "INPUT_CLOSED",
              `Input ended before the calibration was complete (at ${label}, sample ${sample}/${samples}); nothing was written. ` +
                "Run it in a terminal and press Enter for each sample, or use --emulated --yes on the emulated rig.",
            );
          }
        }
        opened.present(label);
        const readings: RgbcReading[] = [];
        for (let read = 0; read < reads; read += 1) readings.push(await opened.read(interrupt.signal));
        const averaged = averageReadings(readings);
        if (averaged === undefined) {
          throw new CliError(
            "SENSOR_SATURATED",
            `Every reading of the ${label} sample was saturated (clear at full scale); nothing was written. ` +
              "Lower --gain or --integration-ms and calibrate again.",
          );
        }
        collected.push({ label, reading: averaged });
        ctx.io.stderr(`  ${label} ${sample}/${samples}: ${raw(averaged)}\n`);
      }
    }
    return {
      collected,
      // With auto-ranging the samples are normalised to the requested settings, whatever the sensor moved to.
      settings: {
        integrationTimeMs: rig.autoRange === true ? rig.integrationTimeMs : opened.sensor.integrationTimeMs,
        gain: rig.autoRange === true ? rig.gain : opened.sensor.gain,
        emulated: opened.emulated,
      },
    };
  } catch (error) {
    if (isInterrupt(interrupt, error)) {
      throw new CliError("INTERRUPTED", "Calibration interrupted; nothing was written.");
    }
    throw error;
  } finally {
    interrupt.dispose();
    lines?.close();
    await opened?.close();
  }
}

function selfCheckOf(
  classifier: CalibratedClassifier,
  samples: readonly LabelledReading[],
): Record<string, { correct: number; total: number }> {
  const check: Record<string, { correct: number; total: number }> = {};
  for (const { label, reading } of samples) {
    const entry = check[label] ?? { correct: 0, total: 0 };
    check[label] = entry;
    entry.total += 1;
    if (classifier.classify(reading).label === label) entry.correct += 1;
  }
  return check;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
