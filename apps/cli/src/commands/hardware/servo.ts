import type { CommandContext, CommandGroup } from "@skittlesorter/cli-shell";
import { usageError } from "@skittlesorter/cli-shell";
import { delay } from "@skittlesorter/core";
import {
  createServo,
  pulseUsToAngle,
  type Servo,
  type ServoCalibration,
  servoCalibration,
} from "@skittlesorter/servo";
import { type Command, Option } from "commander";
import { parseI2cAddressOption, parseIntegerOption, parseNumberOption, rounded } from "./args.ts";
import { interruptOnSigint, isInterrupt } from "./interrupt.ts";
import { addOscillatorCommand } from "./servo-calibrate.ts";
import {
  EMULATED_PWM_LAYOUTS,
  type EmulatedPwmLayout,
  openServoRig,
  SERVO_DRIVERS,
  type ServoDriverKind,
  type ServoRig,
  type ServoRigOptions,
} from "./servo-rig.ts";

/** One commanded position. */
export interface ServoStep {
  /** The commanded angle; with `set --pulse-us`, the angle that pulse means under the calibration. */
  angleDeg: number;
  /** The pulse width commanded. */
  pulseUs: number;
  /** Emulated rig: what the emulated output puts out (the hardware's resolution shows); null on real hardware. */
  readBackPulseUs: number | null;
}

/** What `skittle servo set --json` prints. */
export interface ServoSetResult extends ServoStep {
  driver: ServoDriverKind;
  target: string;
  emulated: boolean;
  channel: number;
  calibration: Pick<ServoCalibration, "minPulseUs" | "maxPulseUs" | "rangeDeg">;
  /** True when --release stopped the pulses after the move. */
  released: boolean;
}

/** What `skittle servo sweep --json` prints. */
export interface ServoSweepResult {
  driver: ServoDriverKind;
  target: string;
  emulated: boolean;
  channel: number;
  calibration: Pick<ServoCalibration, "minPulseUs" | "maxPulseUs" | "rangeDeg">;
  steps: ServoStep[];
  /** True when Ctrl-C ended the sweep early. */
  interrupted: boolean;
  released: boolean;
}

interface ServoCommonOptions {
  driver: ServoDriverKind;
  chip?: string | undefined;
  emulatedLayout?: EmulatedPwmLayout | undefined;
  bus: string;
  address: string;
  oscillatorHz: string;
  channel: string;
  minUs: string;
  maxUs: string;
  range: string;
  release?: boolean | undefined;
  emulated?: boolean | undefined;
  json?: boolean | undefined;
}

interface SetOptions extends ServoCommonOptions {
  angle?: string | undefined;
  pulseUs?: string | undefined;
}

interface SweepOptions extends ServoCommonOptions {
  from: string;
  to: string;
  step: string;
  dwellMs: string;
}

function addCommonOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--driver <driver>", "sysfs: Linux hardware PWM (GPIO12/13); pca9685: servo HAT over I2C")
        .choices([...SERVO_DRIVERS])
        .makeOptionMandatory(),
    )
    .option(
      "--chip <chip>",
      "sysfs: the PWM chip, as a number (pwmchipN), a /sys/class/pwm/pwmchipN path or a controller such as " +
        "1f00098000.pwm (default: the Raspberry Pi's PWM controller, found by each chip's device link)",
    )
    .option("--bus <n>", "pca9685: I2C bus number", "1")
    .option("--address <addr>", "pca9685: 7-bit I2C address", "0x40")
    .option(
      "--oscillator-hz <hz>",
      "pca9685: the chip's measured oscillator (Hardware.Pca9685OscillatorHz; see calibrate-oscillator)",
      "25000000",
    )
    .requiredOption(
      "--channel <n>",
      "PWM channel of the servo (sysfs: 0 = GPIO12, 1 = GPIO13; pca9685: 0-15)",
    )
    .option("--min-us <us>", "pulse width at 0 degrees", "700")
    .option("--max-us <us>", "pulse width at --range degrees", "2400")
    .option("--range <deg>", "angle at --max-us", "180")
    .option(
      "--release",
      "stop the pulses afterwards (the servo goes limp); default: keep holding the position",
    )
    .option(
      "--emulated",
      "use the emulated rig (a fake sysfs PWM tree, or a PCA9685 emulator on a fake I2C bus) instead of hardware",
    )
    .addOption(
      new Option(
        "--emulated-layout <layout>",
        "sysfs with --emulated: the /sys/class/pwm layout to emulate (default pi4)",
      ).choices(EMULATED_PWM_LAYOUTS),
    )
    .option("--json", "print JSON");
}

/** `--chip`: a whole number is pwmchipN; anything else is a chip path or a controller name. */
export function parseChipOption(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === "")
    throw usageError(
      '--chip is empty; give a number, a pwmchipN path or a controller such as "1f00098000.pwm"',
    );
  return /^\d+$/.test(text) ? parseIntegerOption("--chip", text, 0, 1023) : text;
}

interface Plan {
  rig: ServoRigOptions;
  channel: number;
  calibration: Readonly<ServoCalibration>;
}

function plan(options: ServoCommonOptions): Plan {
  const minPulseUs = parseNumberOption("--min-us", options.minUs, 1, 20_000);
  const maxPulseUs = parseNumberOption("--max-us", options.maxUs, 1, 20_000);
  const rangeDeg = parseNumberOption("--range", options.range, 1, 360);
  if (minPulseUs === maxPulseUs) throw usageError("--min-us and --max-us must differ");
  return {
    rig: {
      driver: options.driver,
      chip: parseChipOption(options.chip),
      layout: options.emulatedLayout,
      busNumber: parseIntegerOption("--bus", options.bus, 0, 255),
      address: parseI2cAddressOption("--address", options.address),
      oscillatorHz: parseNumberOption("--oscillator-hz", options.oscillatorHz, 20_000_000, 30_000_000),
      emulated: options.emulated === true,
    },
    channel: parseIntegerOption("--channel", options.channel, 0, 1023),
    calibration: servoCalibration({ minPulseUs, maxPulseUs, rangeDeg }),
  };
}

function parseAngle(flag: string, value: string, calibration: ServoCalibration): number {
  return parseNumberOption(flag, value, 0, calibration.rangeDeg);
}

const calibrationSummary = (
  calibration: ServoCalibration,
): Pick<ServoCalibration, "minPulseUs" | "maxPulseUs" | "rangeDeg"> => ({
  minPulseUs: calibration.minPulseUs,
  maxPulseUs: calibration.maxPulseUs,
  rangeDeg: calibration.rangeDeg,
});

const readBack = (rig: ServoRig, channel: number): number | null => {
  const value = rig.readBackUs(channel);
  return value === undefined ? null : value;
};

const stepText = (step: ServoStep, emulated: boolean): string =>
  `${rounded(step.angleDeg, 1).padStart(6)} deg  ${rounded(step.pulseUs, 1).padStart(7)} us` +
  (emulated
    ? `  (read back ${step.readBackPulseUs === null ? "no pulse" : `${rounded(step.readBackPulseUs, 1)} us`})`
    : "");

/** Registers the `skittle servo` commands. */
export const servoCommands: CommandGroup = (program, context) => {
  const servo = program
    .command("servo")
    .description(
      "Bring up a hobby servo on Linux hardware PWM (sysfs) or a PCA9685 HAT: move it to an angle or sweep it to " +
        "find its limits. Angles map linearly from --min-us at 0 degrees to --max-us at --range degrees.",
    );

  const set = addCommonOptions(
    servo
      .command("set")
      .description(
        "Move a servo to --angle (or send a raw --pulse-us) and keep it there: the pulses stay on after the " +
          "command exits unless --release.",
      ),
  )
    .option("--angle <deg>", "target angle, 0 to --range")
    .option("--pulse-us <us>", "raw pulse width instead of an angle (to probe the end stops)")
    .action(async (options: SetOptions) => runSet(context(set), options));

  const sweep = addCommonOptions(
    servo
      .command("sweep")
      .description(
        "Step a servo from --from to --to degrees, pausing --dwell-ms at each step, and print each pulse width: " +
          "watch where the horn stops following (or buzzes) to find the usable range. Ctrl-C stops it.",
      ),
  )
    .option("--from <deg>", "start angle", "0")
    .option("--to <deg>", "end angle (below --from sweeps backwards)", "180")
    .option("--step <deg>", "step size in degrees", "10")
    .option("--dwell-ms <ms>", "pause after each step has arrived", "300")
    .action(async (options: SweepOptions) => runSweep(context(sweep), options));

  addOscillatorCommand(servo, context);
};

async function runSet(ctx: CommandContext, options: SetOptions): Promise<void> {
  const { rig: rigOptions, channel, calibration } = plan(options);
  if ((options.angle === undefined) === (options.pulseUs === undefined)) {
    throw usageError("pass exactly one of --angle <deg> or --pulse-us <us>");
  }
  const angle = options.angle === undefined ? undefined : parseAngle("--angle", options.angle, calibration);
  const pulse =
    options.pulseUs === undefined ? undefined : parseNumberOption("--pulse-us", options.pulseUs, 1, 20_000);

  const rig = await openServoRig(rigOptions);
  try {
    let step: ServoStep;
    if (angle !== undefined) {
      const motor = createServo(rig.driver, channel, calibration);
      // Wait for the modelled travel only when the pulses are about to stop.
      const moved = await motor.moveTo(angle, { wait: options.release === true });
      step = { angleDeg: angle, pulseUs: moved.pulseUs, readBackPulseUs: readBack(rig, channel) };
    } else {
      const pulseUs = pulse as number;
      await rig.driver.setPulseWidth(channel, pulseUs);
      if (options.release === true) await delay(travelFullRangeMs(calibration));
      step = {
        angleDeg: pulseUsToAngle(pulseUs, calibration),
        pulseUs,
        readBackPulseUs: readBack(rig, channel),
      };
    }
    if (options.release === true) {
      await rig.driver.release(channel);
      step = { ...step, readBackPulseUs: readBack(rig, channel) };
    }
    const result: ServoSetResult = {
      driver: rigOptions.driver,
      target: rig.description,
      emulated: rig.emulated,
      channel,
      ...step,
      calibration: calibrationSummary(calibration),
      released: options.release === true,
    };
    ctx.print(
      result,
      [
        `${rig.description}, channel ${channel}:`,
        stepText(step, rig.emulated),
        options.release === true
          ? "Released: the pulses are off and the servo no longer holds its position."
          : "Holding: the pulses stay on after exit (pass --release to stop them).",
      ].join("\n"),
    );
  } finally {
    await rig.close();
  }
}

function travelFullRangeMs(calibration: ServoCalibration): number {
  return (calibration.rangeDeg / 60) * calibration.secondsPer60Deg * 1000 + calibration.settleMs;
}

function sweepAngles(from: number, to: number, step: number): number[] {
  const direction = to >= from ? 1 : -1;
  const count = Math.floor(Math.abs(to - from) / step + 1e-9);
  const angles = Array.from({ length: count + 1 }, (_, index) => from + direction * index * step);
  if (angles.at(-1) !== to) angles.push(to);
  return angles.map((angle) => Number(angle.toFixed(6)));
}

async function runSweep(ctx: CommandContext, options: SweepOptions): Promise<void> {
  const { rig: rigOptions, channel, calibration } = plan(options);
  const from = parseAngle("--from", options.from, calibration);
  const to = parseAngle("--to", options.to, calibration);
  const step = parseNumberOption("--step", options.step, 0.1, 360);
  const dwellMs = parseIntegerOption("--dwell-ms", options.dwellMs, 0, 60_000);
  const angles = sweepAngles(from, to, step);
  const json = options.json === true;

  const interrupt = interruptOnSigint();
  let rig: ServoRig | undefined;
  const steps: ServoStep[] = [];
  let interrupted = false;
  try {
    rig = await openServoRig({ ...rigOptions, signal: interrupt.signal });
    const motor: Servo = createServo(rig.driver, channel, calibration);
    if (!json) ctx.io.stdout(`${rig.description}, channel ${channel}: ${angles.length} steps\n`);
    try {
      for (const angle of angles) {
        const moved = await motor.moveTo(angle, { signal: interrupt.signal });
        const done: ServoStep = {
          angleDeg: angle,
          pulseUs: moved.pulseUs,
          readBackPulseUs: readBack(rig, channel),
        };
        steps.push(done);
        if (!json) ctx.io.stdout(`${stepText(done, rig.emulated)}\n`);
        if (dwellMs > 0) await delay(dwellMs, { signal: interrupt.signal });
      }
    } catch (error) {
      if (!isInterrupt(interrupt, error)) throw error;
      interrupted = true;
    }
    if (options.release === true) await rig.driver.release(channel);
    const result: ServoSweepResult = {
      driver: rigOptions.driver,
      target: rig.description,
      emulated: rig.emulated,
      channel,
      calibration: calibrationSummary(calibration),
      steps,
      interrupted,
      released: options.release === true,
    };
    if (json) ctx.print(result, "");
    else {
      ctx.io.stdout(
        `${interrupted ? "Interrupted. " : ""}${
          options.release === true
            ? "Released: the servo no longer holds its position."
            : `Holding at ${steps.at(-1)?.angleDeg ?? "-"} deg (pass --release to stop the pulses).`
        }\n`,
      );
    }
  } finally {
    interrupt.dispose();
    await rig?.close();
  }
}
