import { EMPTY, type RgbcLike, SKITTLE_COLORS } from "@skittlesorter/classifier";
import {
  createSkittleGenerator,
  type SkittleGenerator,
  seededRandom,
} from "@skittlesorter/classifier/emulator";
import { type I2cBus, openI2cBus } from "@skittlesorter/i2c";
import { FakeI2cBus } from "@skittlesorter/i2c/emulator";
import { openTcs34725, type RgbcReading, type Tcs34725, type Tcs34725Gain } from "@skittlesorter/tcs34725";
import { lightForCounts, Tcs34725Emulator } from "@skittlesorter/tcs34725/emulator";

/** The labels an emulated rig can present: the five colours and the empty slot, in this order. */
export const EMULATED_LABELS: readonly string[] = [...SKITTLE_COLORS, EMPTY];

/** The generator's reference counts were taken at the original's settings; the emulator scales them to yours. */
const REFERENCE_SETTINGS = { integrationTimeMs: 153.6, gain: 16 } as const;

export interface SensorRigOptions {
  busNumber: number;
  address: number;
  integrationTimeMs: number;
  gain: Tcs34725Gain;
  /** Gain/integration auto-ranging (see `@skittlesorter/tcs34725`). */
  autoRange?: boolean | undefined;
  /**
   * Instead of `/dev/i2c-N`: a fake bus with a TCS34725 emulator looking at virtual skittles, lit `brightness` times
   * as brightly as the reference rig (default 1).
   */
  emulated?: { seed: number; color?: string | undefined; brightness?: number | undefined } | undefined;
  signal?: AbortSignal | undefined;
}

/** An opened colour sensor, real or emulated. */
export interface SensorRig {
  readonly sensor: Tcs34725;
  readonly emulated: boolean;
  /**
   * Emulated rig only: puts a fresh skittle of `label` under the sensor (default: `--emulated-color`, else the next one
   * of the cycle red, green, orange, yellow, purple, empty). Returns the label presented; undefined on real hardware.
   */
  present(label?: string): string | undefined;
  /** One fresh reading of whatever is under the sensor (emulated: a new noisy read of the presented skittle). */
  read(signal?: AbortSignal): Promise<RgbcReading>;
  /** Puts the sensor to sleep and releases the bus. Idempotent. */
  close(): Promise<void>;
}

/** Opens the TCS34725 on I2C bus `busNumber`, or on an emulated rig. Errors pass through from the packages. */
export async function openSensorRig(options: SensorRigOptions): Promise<SensorRig> {
  const { busNumber, address, integrationTimeMs, gain, autoRange, emulated, signal } = options;
  let bus: I2cBus;
  let emulator: Tcs34725Emulator | undefined;
  let generator: SkittleGenerator | undefined;
  if (emulated === undefined) {
    bus = await openI2cBus(busNumber, { signal });
  } else {
    emulator = new Tcs34725Emulator();
    bus = new FakeI2cBus().attach(address, emulator);
    generator = createSkittleGenerator({ random: seededRandom(emulated.seed) });
  }
  let sensor: Tcs34725;
  try {
    sensor = await openTcs34725(bus, { address, integrationTimeMs, gain, autoRange, signal });
  } catch (error) {
    await bus.close().catch(() => undefined);
    throw error;
  }

  let cycle = 0;
  let target: RgbcLike | undefined;
  let closing: Promise<void> | undefined;
  const brightness = emulated?.brightness ?? 1;
  const show = (counts: RgbcLike): void => {
    const light = lightForCounts(counts, REFERENCE_SETTINGS);
    emulator?.setLight({
      clear: light.clear * brightness,
      red: light.red * brightness,
      green: light.green * brightness,
      blue: light.blue * brightness,
    });
  };
  return {
    sensor,
    emulated: emulated !== undefined,
    present(label) {
      if (generator === undefined || emulated === undefined) return undefined;
      const chosen = label ?? emulated.color ?? (EMULATED_LABELS[cycle++ % EMULATED_LABELS.length] as string);
      const skittle = generator.skittle(chosen);
      target = skittle;
      show(skittle);
      return chosen;
    },
    async read(readSignal) {
      const current = target;
      if (generator !== undefined && current !== undefined) show(generator.read(current));
      return sensor.read({ signal: readSignal });
    },
    close() {
      closing ??= (async () => {
        try {
          await sensor.close();
        } finally {
          await bus.close();
        }
      })();
      return closing;
    },
  };
}
