import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type I2cBus, openI2cBus } from "@skittlesorter/i2c";
import { FakeI2cBus } from "@skittlesorter/i2c/emulator";
import { openPca9685, openSysfsPwm, type Pca9685, type ServoDriver } from "@skittlesorter/servo";
import {
  createFakeSysfsPwm,
  type FakePwmChip,
  Pca9685Emulator,
  RASPBERRY_PI_PWM_LAYOUTS,
} from "@skittlesorter/servo/emulator";
import { hex } from "./args.ts";

export const SERVO_DRIVERS = ["sysfs", "pca9685"] as const;
export type ServoDriverKind = (typeof SERVO_DRIVERS)[number];

export const EMULATED_PWM_LAYOUTS = Object.keys(RASPBERRY_PI_PWM_LAYOUTS) as Array<
  keyof typeof RASPBERRY_PI_PWM_LAYOUTS
>;
export type EmulatedPwmLayout = keyof typeof RASPBERRY_PI_PWM_LAYOUTS;

export interface ServoRigOptions {
  driver: ServoDriverKind;
  /**
   * sysfs: a chip number, a chip directory or a controller (`1f00098000.pwm`); undefined finds the Raspberry Pi's
   * PWM controller through the chips' `device` links.
   */
  chip: number | string | undefined;
  /** sysfs, emulated: the `/sys/class/pwm` layout to emulate. Default: pi4, or just pwmchip<chip> for a numbered chip. */
  layout?: EmulatedPwmLayout | undefined;
  /** pca9685: the oscillator frequency to compute prescale and ticks from (default 25 MHz). */
  oscillatorHz?: number | undefined;
  /** pca9685, emulated: the emulated chip's real oscillator (default 25 MHz). */
  emulatedOscillatorHz?: number | undefined;
  /** pca9685: `/dev/i2c-<busNumber>`. */
  busNumber: number;
  /** pca9685: 7-bit address. */
  address: number;
  /** A fake sysfs tree in a temp directory, or a PCA9685 emulator on a fake I2C bus. */
  emulated: boolean;
  signal?: AbortSignal | undefined;
}

/** An opened servo driver, real or emulated. Pulses stay on when it is closed, so the servo holds its position. */
export interface ServoRig {
  readonly driver: ServoDriver;
  /** pca9685 only: the driver with its PCA9685 extras (prescale, setPwm). */
  readonly pca9685?: Pca9685 | undefined;
  /** pca9685 emulated only: the emulator, e.g. to time a looped-back channel. */
  readonly pca9685Emulator?: Pca9685Emulator | undefined;
  /** e.g. `sysfs pwmchip0` or `PCA9685 at 0x40 on I2C bus 1`. */
  readonly description: string;
  readonly emulated: boolean;
  /** Emulated only: the pulse width the emulated output really puts out (µs), or null when it is off. */
  readBackUs(channel: number): number | null | undefined;
  /** Closes the driver (and bus / temp tree). Idempotent. */
  close(): Promise<void>;
}

export async function openServoRig(options: ServoRigOptions): Promise<ServoRig> {
  const { driver, chip, busNumber, address, emulated, signal, oscillatorHz } = options;
  if (driver === "sysfs") {
    if (!emulated) {
      const pwm = await openSysfsPwm({ chip, releaseOnClose: false, signal });
      return rig(
        pwm,
        `sysfs ${pwm.chipPath}`,
        false,
        () => undefined,
        async () => undefined,
      );
    }
    const root = await mkdtemp(join(tmpdir(), "skittle-emulated-pwm-"));
    try {
      const chips: readonly FakePwmChip[] =
        options.layout === undefined && typeof chip === "number"
          ? [{ chip, npwm: 2 }]
          : RASPBERRY_PI_PWM_LAYOUTS[options.layout ?? "pi4"];
      const fake = await createFakeSysfsPwm({ root, chips });
      const pwm = await openSysfsPwm({ chip, root, fs: fake.fs, releaseOnClose: false, signal });
      const found = Number(/\d+$/.exec(pwm.chipPath)?.[0]);
      return rig(
        pwm,
        `sysfs ${basename(pwm.chipPath)} (emulated${options.layout === undefined ? "" : ` ${options.layout}`})`,
        true,
        (channel) => fake.pulseUs(found, channel) ?? null,
        () => rm(root, { recursive: true, force: true }),
      );
    } catch (error) {
      await rm(root, { recursive: true, force: true });
      throw error;
    }
  }

  let bus: I2cBus;
  let emulator: Pca9685Emulator | undefined;
  if (emulated) {
    emulator = new Pca9685Emulator({ oscillatorHz: options.emulatedOscillatorHz });
    bus = new FakeI2cBus().attach(address, emulator);
  } else {
    bus = await openI2cBus(busNumber, { signal });
  }
  try {
    const pca = await openPca9685(bus, { address, releaseOnClose: false, signal, oscillatorHz });
    const opened = rig(
      pca,
      `PCA9685 at ${hex(address)} on I2C bus ${busNumber}${emulated ? " (emulated)" : ""}`,
      emulated,
      (channel) => (emulator === undefined ? undefined : (emulator.pulseWidthUs(channel) ?? null)),
      () => bus.close(),
    );
    return { ...opened, pca9685: pca, pca9685Emulator: emulator };
  } catch (error) {
    await bus.close().catch(() => undefined);
    throw error;
  }
}

function rig(
  driver: ServoDriver,
  description: string,
  emulated: boolean,
  readBackUs: (channel: number) => number | null | undefined,
  cleanUp: () => Promise<void>,
): ServoRig {
  let closing: Promise<void> | undefined;
  return {
    driver,
    description,
    emulated,
    readBackUs,
    close() {
      closing ??= (async () => {
        try {
          await driver.close();
        } finally {
          await cleanUp();
        }
      })();
      return closing;
    },
  };
}
