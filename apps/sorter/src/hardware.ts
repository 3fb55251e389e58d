import { type Clock, type Logger, noopLogger, type OperationOptions, systemClock } from "@skittlesorter/core";
import { type I2cBus, openI2cBus } from "@skittlesorter/i2c";
import { createServo, openPca9685, openSysfsPwm, type Servo, type ServoDriver } from "@skittlesorter/servo";
import { type ColorSensor, openTcs34725 } from "@skittlesorter/tcs34725";
import {
  type ChutePositions,
  COLOR_NAMES,
  type HardwareSettings,
  type RigSettings,
  type SensorSettings,
  type ServoSettings,
  type SorterPositions,
} from "./config/index.ts";
import { describeError, SorterError } from "./errors.ts";
import { EmulatedRig, type RigItem, rigItems } from "./rig.ts";
import { VirtualClock } from "./virtual-clock.ts";

/** What the sorting loop drives: a colour sensor, two servos, and the clock every wait runs on. */
export interface SorterHardware {
  sensor: ColorSensor;
  pick: Servo;
  chute: Servo;
  clock: Clock;
  /** Present on the emulated rig: ask it for accuracy and skittles per minute. */
  rig: EmulatedRig | undefined;
  /** Releases everything (sensor asleep, PWM off, bus closed). Idempotent. */
  close(): Promise<void>;
}

export interface OpenHardwareOptions extends OperationOptions {
  logger?: Logger | undefined;
  /** Emulated rig only: the clock to run on (default: a {@link VirtualClock} with `EmulatedRig.TimeScale`). */
  clock?: Clock | undefined;
  /** Emulated rig only: the hopper's contents (default: from the configuration). */
  items?: readonly RigItem[] | undefined;
}

/**
 * The servo model the loop waits by: the configured calibration with every wait (travel and settle) lengthened by
 * `Hardware.TravelMarginPercent`. The emulated rig's horns move at the configured speed, without the margin.
 */
function servoOptions(
  settings: ServoSettings,
  travelMarginPercent: number,
  name: string,
  clock: Clock,
  logger: Logger,
) {
  const margin = 1 + travelMarginPercent / 100;
  return {
    name,
    minPulseUs: settings.minPulseUs,
    maxPulseUs: settings.maxPulseUs,
    rangeDeg: settings.rangeDeg,
    secondsPer60Deg: settings.secondsPer60Deg * margin,
    settleMs: settings.settleMs * margin,
    clock,
    logger,
  };
}

/** The configuration sections real hardware is opened from. */
export interface RealHardwareConfig {
  hardware: HardwareSettings;
  sensor: SensorSettings;
}

/** The configuration sections the emulated rig is built from: the hardware, plus where things are and what it sorts. */
export interface EmulatedHardwareConfig extends RealHardwareConfig {
  positions: SorterPositions;
  chutes: ChutePositions;
  rig: RigSettings;
}

/** The TCS34725 settings of the `Sensor` section. */
const sensorOptions = (sensor: SensorSettings) => ({
  address: sensor.address,
  integrationTimeMs: sensor.integrationTimeMs,
  gain: sensor.gain,
  autoRange: sensor.autoRange,
});

/** The real hardware (TCS34725 on I2C, servos on a PCA9685 or the Pi's PWM), or the emulated rig. */
export function openHardware(
  config: EmulatedHardwareConfig & { emulated: boolean },
  options: OpenHardwareOptions = {},
): Promise<SorterHardware> {
  return config.emulated ? openEmulatedHardware(config, options) : openRealHardware(config, options);
}

export async function openEmulatedHardware(
  config: EmulatedHardwareConfig,
  options: OpenHardwareOptions = {},
): Promise<SorterHardware> {
  const logger = options.logger ?? noopLogger;
  const { hardware, sensor: sensorSettings, positions, chutes, rig: rigSettings } = config;
  const clock = options.clock ?? new VirtualClock({ timeScale: rigSettings.timeScale });
  const physical = (settings: ServoSettings) => ({
    minPulseUs: settings.minPulseUs,
    maxPulseUs: settings.maxPulseUs,
    rangeDeg: settings.rangeDeg,
    secondsPer60Deg: rigSettings.servoSecondsPer60Deg ?? settings.secondsPer60Deg,
    settleMs: 0,
  });
  // Colour bins first: when the reject chute shares a colour's angle (the default), that bin goes by the colour.
  const bins: Record<string, number> = {};
  for (const name of COLOR_NAMES) bins[name] = chutes[name];
  bins.Reject = chutes.reject;
  const rig = new EmulatedRig({
    clock,
    positions,
    bins,
    expectedBin: (item) =>
      item === "unknown" || item === "none" ? "Reject" : `${item[0]?.toUpperCase()}${item.slice(1)}`,
    pick: {
      channel: hardware.pick.channel,
      calibration: physical(hardware.pick),
      initialAngleDeg: positions.park,
    },
    chute: {
      channel: hardware.chute.channel,
      calibration: physical(hardware.chute),
      initialAngleDeg: chutes.default,
    },
    items:
      options.items ??
      rigItems(rigSettings.skittles, { sequence: rigSettings.sequence, seed: rigSettings.seed }),
    seed: rigSettings.seed,
    sensorFieldOfViewDeg: rigSettings.sensorFieldOfViewDeg,
    sensorAddress: sensorSettings.address,
    servoAddress: hardware.pca9685Address,
    servoOscillatorHz: hardware.pca9685OscillatorHz,
  });
  const sensor = await openTcs34725(rig.bus, {
    ...sensorOptions(sensorSettings),
    clock,
    logger,
    signal: options.signal,
  });
  const pwm = await openPca9685(rig.bus, {
    address: hardware.pca9685Address,
    frequencyHz: hardware.frequencyHz,
    oscillatorHz: hardware.pca9685OscillatorHz,
    clock,
    logger,
  });
  const pick = createServo(
    pwm,
    hardware.pick.channel,
    servoOptions(hardware.pick, hardware.travelMarginPercent, "pick", clock, logger),
  );
  const chute = createServo(
    pwm,
    hardware.chute.channel,
    servoOptions(hardware.chute, hardware.travelMarginPercent, "chute", clock, logger),
  );
  return {
    sensor,
    pick,
    chute,
    clock,
    rig,
    close: closer([() => sensor.close(), () => pwm.close(), () => rig.bus.close()]),
  };
}

export async function openRealHardware(
  config: RealHardwareConfig,
  options: OpenHardwareOptions = {},
): Promise<SorterHardware> {
  const logger = options.logger ?? noopLogger;
  const clock = systemClock;
  const { hardware } = config;
  const closers: (() => Promise<void>)[] = [];
  try {
    const bus: I2cBus = await openI2cBus(hardware.i2cBus, { logger });
    closers.unshift(() => bus.close());
    const sensor = await openTcs34725(bus, {
      ...sensorOptions(config.sensor),
      clock,
      logger,
    });
    closers.unshift(() => sensor.close());
    const pwm: ServoDriver =
      hardware.servoDriver === "pca9685"
        ? await openPca9685(bus, {
            address: hardware.pca9685Address,
            frequencyHz: hardware.frequencyHz,
            oscillatorHz: hardware.pca9685OscillatorHz,
            clock,
            logger,
          })
        : await openSysfsPwm({ chip: hardware.pwmChip, frequencyHz: hardware.frequencyHz, clock, logger });
    closers.unshift(() => pwm.close());
    const pick = createServo(
      pwm,
      hardware.pick.channel,
      servoOptions(hardware.pick, hardware.travelMarginPercent, "pick", clock, logger),
    );
    const chute = createServo(
      pwm,
      hardware.chute.channel,
      servoOptions(hardware.chute, hardware.travelMarginPercent, "chute", clock, logger),
    );
    return { sensor, pick, chute, clock, rig: undefined, close: closer(closers) };
  } catch (error) {
    await closer(closers)();
    throw new SorterError(
      "HARDWARE_FAILED",
      `Cannot open the sorter's hardware: ${describeError(error)} To try the sorter without hardware, run with --emulated.`,
      { cause: error },
    );
  }
}

function closer(steps: (() => Promise<void>)[]): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= (async () => {
      for (const step of steps) await step().catch(() => undefined);
    })();
    return closing;
  };
}
