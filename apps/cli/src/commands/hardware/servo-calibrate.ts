import { resolve } from "node:path";
import type { CommandContext } from "@skittlesorter/cli-shell";
import { usageError } from "@skittlesorter/cli-shell";
import {
  measurePca9685Oscillator,
  type OscillatorMeasurement,
  oscillatorMeasurement,
  PCA9685_OSCILLATOR_HZ,
  prescaleForFrequency,
} from "@skittlesorter/servo";
import type { Command } from "commander";
import { hex, parseI2cAddressOption, parseIntegerOption, parseNumberOption, rounded } from "./args.ts";
import { OSCILLATOR_CONFIG_KEY, writeOscillatorToConfig } from "./servo-config.ts";
import { openServoRig } from "./servo-rig.ts";

/** What `skittle servo calibrate-oscillator --json` prints. */
export interface OscillatorCalibrationResult extends OscillatorMeasurement {
  /** `measured-period`: entered from a scope or logic analyser; `loopback`: edges timed on a looped-back channel. */
  method: "measured-period" | "loopback";
  emulated: boolean;
  /** The configuration key the value belongs in, e.g. `Hardware.Pca9685OscillatorHz`. */
  configKey: string;
  /** The oscillator rounded to whole Hz: the value to store. */
  value: number;
  /** The configuration file written, or null. */
  writtenTo: string | null;
}

interface CalibrateOptions {
  measuredPeriodUs?: string | undefined;
  measuredFrequencyHz?: string | undefined;
  prescale?: string | undefined;
  emulated?: boolean | undefined;
  emulatedOscillatorHz: string;
  bus: string;
  address: string;
  channel: string;
  periods: string;
  writeConfig?: string | undefined;
  json?: boolean | undefined;
}

export function addOscillatorCommand(servo: Command, context: (command: Command) => CommandContext): void {
  const command = servo
    .command("calibrate-oscillator")
    .description(
      "Measure a PCA9685's internal oscillator (25 MHz nominal, often 5-10 % off) so servo pulses come out right, " +
        "and store it as Hardware.Pca9685OscillatorHz in the sorter's configuration. Either measure the frame period " +
        "of any PCA9685 output with a scope or logic analyser (rising edge to rising edge) and pass " +
        "--measured-period-us, or time a channel looped back to an input (--emulated: the emulated chip, which runs " +
        "off-nominal on purpose).",
    )
    .option("--measured-period-us <us>", "the frame period you measured on a PCA9685 output, in microseconds")
    .option("--measured-frequency-hz <hz>", "or the frame rate you measured, in Hz")
    .option(
      "--prescale <n>",
      "PRE_SCALE in effect while you measured (default 121: what 50 Hz gives with an uncalibrated 25 MHz oscillator)",
    )
    .option("--emulated", "time the edges of a looped-back channel of an emulated PCA9685")
    .option(
      "--emulated-oscillator-hz <hz>",
      "with --emulated: the emulated chip's real oscillator",
      "26300000",
    )
    .option("--bus <n>", "I2C bus number", "1")
    .option("--address <addr>", "7-bit I2C address", "0x40")
    .option("--channel <n>", "with --emulated: the channel looped back (disconnect its servo)", "15")
    .option("--periods <n>", "with --emulated: frame periods to average", "100")
    .option(
      "--write-config <file>",
      `set ${OSCILLATOR_CONFIG_KEY.section}.${OSCILLATOR_CONFIG_KEY.key} in this sorter configuration (other keys are kept)`,
    )
    .option("--json", "print JSON")
    .action(async (options: CalibrateOptions) => runCalibrate(context(command), options));
}

async function runCalibrate(ctx: CommandContext, options: CalibrateOptions): Promise<void> {
  const manual = [options.measuredPeriodUs, options.measuredFrequencyHz].filter((v) => v !== undefined);
  if (manual.length + (options.emulated === true ? 1 : 0) !== 1) {
    throw usageError(
      "pass exactly one of --measured-period-us <us>, --measured-frequency-hz <hz> (measured with a scope or logic " +
        "analyser) or --emulated",
    );
  }
  const prescale =
    options.prescale === undefined
      ? prescaleForFrequency(50, PCA9685_OSCILLATOR_HZ)
      : parseIntegerOption("--prescale", options.prescale, 3, 255);

  let measurement: OscillatorMeasurement;
  let method: OscillatorCalibrationResult["method"];
  if (options.emulated === true) {
    if (options.prescale !== undefined)
      throw usageError("--prescale applies to a measured period, not --emulated");
    const channel = parseIntegerOption("--channel", options.channel, 0, 15);
    const periods = parseIntegerOption("--periods", options.periods, 1, 100_000);
    const rig = await openServoRig({
      driver: "pca9685",
      chip: undefined,
      busNumber: parseIntegerOption("--bus", options.bus, 0, 255),
      address: parseI2cAddressOption("--address", options.address),
      emulated: true,
      emulatedOscillatorHz: parseNumberOption(
        "--emulated-oscillator-hz",
        options.emulatedOscillatorHz,
        1e6,
        1e8,
      ),
    });
    try {
      const { pca9685, pca9685Emulator } = rig;
      if (pca9685 === undefined || pca9685Emulator === undefined) throw new Error("emulated PCA9685 missing");
      measurement = await measurePca9685Oscillator(pca9685, channel, pca9685Emulator.edgeTimer(channel), {
        periods,
      });
    } finally {
      await rig.close();
    }
    method = "loopback";
  } else {
    const periodUs =
      options.measuredPeriodUs !== undefined
        ? parseNumberOption("--measured-period-us", options.measuredPeriodUs, 1, 1e6)
        : 1e6 / parseNumberOption("--measured-frequency-hz", options.measuredFrequencyHz ?? "", 1, 2000);
    measurement = oscillatorMeasurement(periodUs, prescale);
    method = "measured-period";
  }

  const value = Math.round(measurement.oscillatorHz);
  const configKey = `${OSCILLATOR_CONFIG_KEY.section}.${OSCILLATOR_CONFIG_KEY.key}`;
  const file = options.writeConfig === undefined ? undefined : resolve(ctx.io.cwd, options.writeConfig);
  if (file !== undefined) await writeOscillatorToConfig(file, value);
  const result: OscillatorCalibrationResult = {
    ...measurement,
    method,
    emulated: options.emulated === true,
    configKey,
    value,
    writtenTo: file ?? null,
  };
  ctx.print(
    result,
    [
      `${options.emulated === true ? `Emulated PCA9685 at ${hex(parseI2cAddressOption("--address", options.address))}: ` : ""}` +
        `frame period ${rounded(measurement.periodUs, 2)} us (${rounded(measurement.frequencyHz, 3)} Hz) at prescale ${measurement.prescale}` +
        `${method === "loopback" ? `, ${measurement.periods} periods averaged` : ""}.`,
      `Oscillator: ${value} Hz (${measurement.offsetPercent >= 0 ? "+" : ""}${rounded(measurement.offsetPercent, 2)} % from 25 MHz).`,
      file === undefined
        ? `Set "${OSCILLATOR_CONFIG_KEY.key}": ${value} in the "${OSCILLATOR_CONFIG_KEY.section}" section of the sorter's appsettings.json (or pass --write-config FILE).`
        : `Wrote ${configKey} = ${value} to ${file}; restart the sorter to use it.`,
    ].join("\n"),
  );
}
