import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import {
  averageReadings,
  type CalibratedClassifier,
  calibrate,
  EMPTY,
  type LabelledReading,
  saveCalibration,
} from "@skittlesorter/classifier";
import type { CommandContext } from "@skittlesorter/cli-shell";
import { CliError, usageError } from "@skittlesorter/cli-shell";
import type { RgbcReading, Tcs34725Gain } from "@skittlesorter/tcs34725";
import type { Command } from "commander";
import { pathExists } from "../../path-exists.ts";
import { parseIntegerOption } from "./args.ts";
import type { LineInput } from "./input.ts";
import { interruptOnSigint, isInterrupt } from "./interrupt.ts";
import { addCommonOptions, rigOptions, type SensorCommonOptions } from "./sensor-options.ts";
import { raw } from "./sensor-read.ts";
import { EMULATED_LABELS, openSensorRig, type SensorRig, type SensorRigOptions } from "./sensor-rig.ts";

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

interface CalibrateCliOptions extends SensorCommonOptions {
  out: string;
  samples: string;
  reads: string;
  yes?: boolean | undefined;
  force?: boolean | undefined;
}

/** Registers `skittle sensor calibrate`; the operator presses Enter on `input` for each sample. */
export function addCalibrateCommand(
  sensor: Command,
  context: (command: Command) => CommandContext,
  input: () => LineInput,
): void {
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
    .action(async (options: CalibrateCliOptions) => runCalibrate(context(calibrateCommand), options, input));
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
  if (options.force !== true && (await pathExists(out))) {
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
