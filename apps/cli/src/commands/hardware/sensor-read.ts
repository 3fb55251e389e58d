import { resolve } from "node:path";
import {
  type CalibratedClassifier,
  type Classification,
  defaultClassifier,
  EMPTY,
  loadCalibration,
} from "@skittlesorter/classifier";
import type { CommandContext } from "@skittlesorter/cli-shell";
import { usageError } from "@skittlesorter/cli-shell";
import { delay } from "@skittlesorter/core";
import { dn40, type RgbcReading, type Tcs34725Gain } from "@skittlesorter/tcs34725";
import { type Command, Option } from "commander";
import { finiteOrNull, hex, parseIntegerOption, rounded } from "./args.ts";
import { interruptOnSigint, isInterrupt } from "./interrupt.ts";
import { addCommonOptions, rigOptions, type SensorCommonOptions } from "./sensor-options.ts";
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

interface ReadOptions extends SensorCommonOptions {
  calibration?: string | undefined;
  watch?: boolean | undefined;
  count?: string | undefined;
  intervalMs: string;
  emulatedColor?: string | undefined;
}

/** Registers `skittle sensor read`. */
export function addReadCommand(sensor: Command, context: (command: Command) => CommandContext): void {
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
}

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

export const raw = (r: { clear: number; red: number; green: number; blue: number }): string =>
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
