// The options every `skittle sensor` command takes, and the rig they describe.
import type { Tcs34725Gain } from "@skittlesorter/tcs34725";
import { type Command, Option } from "commander";
import { parseI2cAddressOption, parseIntegerOption, parseNumberOption } from "./args.ts";
import type { SensorRigOptions } from "./sensor-rig.ts";

export interface SensorCommonOptions {
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

const GAINS = ["1", "4", "16", "60"];

export function addCommonOptions(command: Command): Command {
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

export function rigOptions(options: SensorCommonOptions, emulatedColor?: string): SensorRigOptions {
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
