import {
  type Clock,
  delay,
  type Logger,
  noopLogger,
  type OperationOptions,
  systemClock,
} from "@skittlesorter/core";
import { type I2cBus, isI2cError } from "@skittlesorter/i2c";
import { checkChannel, checkPulse, closedError, type ServoDriver } from "./driver.ts";
import { hex, ServoError } from "./errors.ts";

/** Default 7-bit address of a PCA9685 with A5…A0 low (Adafruit #2327 HAT, Waveshare Servo Driver HAT). */
export const PCA9685_ADDRESS = 0x40;
/** The PCA9685's internal oscillator, nominally. Real parts run anywhere from about 23 to 27 MHz. */
export const PCA9685_OSCILLATOR_HZ = 25_000_000;

export const PCA9685_REG = {
  MODE1: 0x00,
  MODE2: 0x01,
  LED0_ON_L: 0x06,
  ALL_LED_ON_L: 0xfa,
  ALL_LED_ON_H: 0xfb,
  ALL_LED_OFF_L: 0xfc,
  ALL_LED_OFF_H: 0xfd,
  PRE_SCALE: 0xfe,
} as const;

export const MODE1 = { RESTART: 0x80, EXTCLK: 0x40, AI: 0x20, SLEEP: 0x10, ALLCALL: 0x01 } as const;
export const MODE2 = { INVRT: 0x10, OCH: 0x08, OUTDRV: 0x04 } as const;
/** Bit 4 of LEDn_ON_H / LEDn_OFF_H: full on / full off. */
export const LED_FULL = 0x10;

/** Oscillator stabilisation time after clearing SLEEP, before RESTART may be written (≥ 500 µs by the datasheet). */
export const WAKE_DELAY_MS = 1;

/** LEDn_ON_L register of a channel. */
export function channelRegister(channel: number): number {
  return PCA9685_REG.LED0_ON_L + 4 * channel;
}

/** PRE_SCALE for a frame rate: round(oscillator / (4096 × f)) − 1, within 3…255. 50 Hz at 25 MHz → 121. */
export function prescaleForFrequency(
  frequencyHz: number,
  oscillatorHz: number = PCA9685_OSCILLATOR_HZ,
): number {
  const prescale = Math.round(oscillatorHz / (4096 * frequencyHz)) - 1;
  if (!Number.isFinite(prescale) || prescale < 3 || prescale > 255) {
    const low = oscillatorHz / (4096 * 256);
    const high = oscillatorHz / (4096 * 4);
    throw new ServoError(
      "SERVO_INVALID_OPTION",
      `The PCA9685 cannot run at ${String(frequencyHz)} Hz with a ${oscillatorHz} Hz oscillator; pick a frequency ` +
        `from ${low.toFixed(1)} to ${high.toFixed(0)} Hz (servos use 50).`,
    );
  }
  return prescale;
}

/** The frame rate a prescale gives: oscillator / (4096 × (prescale + 1)). */
export function frequencyForPrescale(prescale: number, oscillatorHz: number = PCA9685_OSCILLATOR_HZ): number {
  return oscillatorHz / (4096 * (prescale + 1));
}

/**
 * Oscillator calibration: from the frame rate measured on an output (scope, logic analyser, frequency counter) at
 * a known prescale, the chip's real oscillator frequency, to pass as `oscillatorHz`.
 */
export function oscillatorFromMeasurement(measuredFrequencyHz: number, prescale: number): number {
  return measuredFrequencyHz * 4096 * (prescale + 1);
}

export interface Pca9685Options extends OperationOptions {
  /** Default 0x40. */
  address?: number | undefined;
  /** Default 50 Hz. */
  frequencyHz?: number | undefined;
  /**
   * This chip's real oscillator frequency, which prescale and pulse ticks are computed from (the internal one is
   * 25 MHz nominal but 5–10 % off on many parts; see `measurePca9685Oscillator`). Default 25 MHz.
   */
  oscillatorHz?: number | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** On close, switch off the channels this driver drove (full OFF). Default true. */
  releaseOnClose?: boolean | undefined;
}

/**
 * Opens a PCA9685 on `bus` as a {@link ServoDriver}: sets the prescale for `frequencyHz` (which needs SLEEP), totem-pole
 * outputs that update on STOP, auto-increment, wakes it and restarts previously running channels. If the chip already
 * runs at that prescale with auto-increment, nothing is written, so re-opening does not glitch the servos.
 * The bus stays the caller's.
 */
export async function openPca9685(bus: I2cBus, options: Pca9685Options = {}): Promise<Pca9685> {
  const { signal } = options;
  signal?.throwIfAborted();
  const driver = new Pca9685(bus, options);
  await driver.init({ signal });
  return driver;
}

export class Pca9685 implements ServoDriver {
  readonly channelCount = 16;
  readonly address: number;
  readonly prescale: number;
  readonly frequencyHz: number;
  readonly resolutionUs: number;
  readonly oscillatorHz: number;
  readonly #bus: I2cBus;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #releaseOnClose: boolean;
  readonly #used = new Set<number>();
  #closing: Promise<void> | undefined;

  /** Use {@link openPca9685}. */
  constructor(bus: I2cBus, options: Pca9685Options = {}) {
    this.#bus = bus;
    this.address = options.address ?? PCA9685_ADDRESS;
    this.oscillatorHz = options.oscillatorHz ?? PCA9685_OSCILLATOR_HZ;
    if (!(Number.isFinite(this.oscillatorHz) && this.oscillatorHz > 0)) {
      throw new ServoError(
        "SERVO_INVALID_OPTION",
        `oscillatorHz must be a positive number of Hz, got ${String(options.oscillatorHz)}; use 25000000 or the ` +
          "value `skittle servo calibrate-oscillator` measured.",
      );
    }
    this.prescale = prescaleForFrequency(options.frequencyHz ?? 50, this.oscillatorHz);
    this.frequencyHz = frequencyForPrescale(this.prescale, this.oscillatorHz);
    this.resolutionUs = 1e6 / (this.frequencyHz * 4096);
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.#releaseOnClose = options.releaseOnClose ?? true;
  }

  #notFound(error: unknown): unknown {
    if (isI2cError(error) && error.code === "I2C_NACK") {
      return new ServoError(
        "SERVO_DEVICE_NOT_FOUND",
        `No PCA9685 answered at ${hex(this.address)}. Check that the servo HAT sits on the header (or SDA/SCL/GND/VCC ` +
          "are wired), that its address jumpers match, and that `i2cdetect -y 1` shows 40 (and 70, the all-call address).",
        { cause: error },
      );
    }
    return error;
  }

  /** Runs the set-up sequence; {@link openPca9685} calls it. */
  async init(options: OperationOptions = {}): Promise<void> {
    const { signal } = options;
    let mode1: number;
    try {
      mode1 = await this.#bus.readByte(this.address, PCA9685_REG.MODE1, { signal });
    } catch (error) {
      throw this.#notFound(error);
    }
    const current = await this.#bus.readByte(this.address, PCA9685_REG.PRE_SCALE, { signal });
    if (current === this.prescale && (mode1 & MODE1.SLEEP) === 0 && (mode1 & MODE1.AI) !== 0) {
      this.#logger.debug("pca9685 already configured", { address: this.address, prescale: this.prescale });
      return;
    }
    // PRE_SCALE can only be written while SLEEP is set.
    await this.#writeMode1((mode1 & ~MODE1.RESTART) | MODE1.SLEEP, signal);
    await this.#bus.writeByte(this.address, PCA9685_REG.PRE_SCALE, this.prescale, { signal });
    await this.#bus.writeByte(this.address, PCA9685_REG.MODE2, MODE2.OUTDRV, { signal });
    await this.#wake(mode1, signal);
    this.#logger.debug("pca9685 ready", {
      address: this.address,
      prescale: this.prescale,
      frequencyHz: this.frequencyHz,
    });
  }

  #writeMode1(value: number, signal: AbortSignal | undefined): Promise<void> {
    return this.#bus.writeByte(this.address, PCA9685_REG.MODE1, value, { signal });
  }

  async #wake(mode1: number, signal: AbortSignal | undefined): Promise<void> {
    await this.#writeMode1((mode1 & ~(MODE1.RESTART | MODE1.SLEEP)) | MODE1.AI, signal);
    await delay(WAKE_DELAY_MS, { clock: this.#clock, signal });
    const after = await this.#bus.readByte(this.address, PCA9685_REG.MODE1, { signal });
    // RESTART reads 1 when channels were running as the chip went to sleep; writing 1 restarts them.
    if ((after & MODE1.RESTART) !== 0) await this.#writeMode1(after, signal);
  }

  #checkOpen(channel?: number): void {
    if (this.#closing !== undefined) throw closedError(channel);
  }

  /** Puts the oscillator to sleep: all outputs stop; {@link wake} restarts them. */
  async sleep(options: OperationOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#checkOpen();
    const mode1 = await this.#bus.readByte(this.address, PCA9685_REG.MODE1, options);
    await this.#writeMode1((mode1 & ~MODE1.RESTART) | MODE1.SLEEP, options.signal);
  }

  /** Wakes the oscillator, waits ≥ 500 µs and restarts the channels that ran before {@link sleep}. */
  async wake(options: OperationOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#checkOpen();
    const mode1 = await this.#bus.readByte(this.address, PCA9685_REG.MODE1, options);
    await this.#wake(mode1, options.signal);
  }

  /** Pulse width → 12-bit OFF count at this prescale and oscillator. */
  ticksFor(pulseUs: number): number {
    return Math.min(
      4095,
      Math.max(1, Math.round((pulseUs * this.oscillatorHz) / (1e6 * (this.prescale + 1)))),
    );
  }

  /** Writes a channel's ON and OFF counts in one 4-byte auto-increment transaction. */
  async setPwm(channel: number, on: number, off: number, options: OperationOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#checkOpen(channel);
    checkChannel(channel, this.channelCount);
    const data = Buffer.from([on & 0xff, (on >> 8) & 0x1f, off & 0xff, (off >> 8) & 0x1f]);
    await this.#bus.writeI2cBlock(this.address, channelRegister(channel), 4, data, options);
    this.#used.add(channel);
  }

  async setPulseWidth(channel: number, pulseUs: number, options: OperationOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#checkOpen(channel);
    checkChannel(channel, this.channelCount);
    checkPulse(channel, pulseUs, this.frequencyHz);
    await this.setPwm(channel, 0, this.ticksFor(pulseUs), options);
  }

  async release(channel: number, options: OperationOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#checkOpen(channel);
    checkChannel(channel, this.channelCount);
    await this.setPwm(channel, 0, LED_FULL << 8, options);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (!this.#releaseOnClose) return;
      for (const channel of this.#used) {
        const data = Buffer.from([0, 0, 0, LED_FULL]);
        await this.#bus.writeI2cBlock(this.address, channelRegister(channel), 4, data);
      }
    })();
    return this.#closing;
  }
}
