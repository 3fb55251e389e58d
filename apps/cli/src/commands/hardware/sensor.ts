import type { CommandGroup } from "@skittlesorter/cli-shell";
import { type LineInput, streamLineInput } from "./input.ts";
import { addCalibrateCommand } from "./sensor-calibrate.ts";
import { addReadCommand } from "./sensor-read.ts";

export interface SensorCommandsOptions {
  /** Where `sensor calibrate` reads the operator's Enter presses. Default: lines of `process.stdin`. */
  input?: (() => LineInput) | undefined;
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

    addReadCommand(sensor, context);
    addCalibrateCommand(sensor, context, input);
  };
}

/** Registers the `skittle sensor` commands (operator input from stdin). */
export const sensorCommands: CommandGroup = createSensorCommands();
