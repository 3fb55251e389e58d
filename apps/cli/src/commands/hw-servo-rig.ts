import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type I2cBus, openI2cBus } from "@skittlesorter/i2c";
import { FakeI2cBus } from "@skittlesorter/i2c/testing";
import { openPca9685, openSysfsPwm, type ServoDriver } from "@skittlesorter/servo";
import { createFakeSysfsPwm, Pca9685Emulator } from "@skittlesorter/servo/testing";
import { hex } from "./hw-args.ts";

export const SERVO_DRIVERS = ["sysfs", "pca9685"] as const;
export type ServoDriverKind = (typeof SERVO_DRIVERS)[number];

export interface ServoRigOptions {
  driver: ServoDriverKind;
  /** sysfs: `/sys/class/pwm/pwmchip<chip>`. */
  chip: number;
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
  /** e.g. `sysfs pwmchip0` or `PCA9685 at 0x40 on I2C bus 1`. */
  readonly description: string;
  readonly emulated: boolean;
  /** Emulated only: the pulse width the emulated output really puts out (µs), or null when it is off. */
  readBackUs(channel: number): number | null | undefined;
  /** Closes the driver (and bus / temp tree). Idempotent. */
  close(): Promise<void>;
}

export async function openServoRig(options: ServoRigOptions): Promise<ServoRig> {
  const { driver, chip, busNumber, address, emulated, signal } = options;
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
      const fake = await createFakeSysfsPwm({ root, chips: [{ chip, npwm: 2 }] });
      const pwm = await openSysfsPwm({ chip, root, fs: fake.fs, releaseOnClose: false, signal });
      return rig(
        pwm,
        `sysfs pwmchip${chip} (emulated)`,
        true,
        (channel) => fake.pulseUs(chip, channel) ?? null,
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
    emulator = new Pca9685Emulator();
    bus = new FakeI2cBus().attach(address, emulator);
  } else {
    bus = await openI2cBus(busNumber, { signal });
  }
  try {
    const pca = await openPca9685(bus, { address, releaseOnClose: false, signal });
    return rig(
      pca,
      `PCA9685 at ${hex(address)} on I2C bus ${busNumber}${emulated ? " (emulated)" : ""}`,
      emulated,
      (channel) => (emulator === undefined ? undefined : (emulator.pulseWidthUs(channel) ?? null)),
      () => bus.close(),
    );
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
