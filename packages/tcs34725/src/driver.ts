import {
  type Clock,
  delay,
  type Logger,
  noopLogger,
  type OperationOptions,
  systemClock,
} from "@skittlesorter/core";
import { type I2cBus, isI2cError } from "@skittlesorter/i2c";
import { hex, Tcs34725Error } from "./errors.ts";
import {
  AUTO_INCREMENT,
  COMMAND_BIT,
  ENABLE,
  KNOWN_IDS,
  REG,
  STATUS,
  TCS34725_ADDRESS,
} from "./registers.ts";
import {
  atimeForIntegrationTime,
  CYCLE_MS,
  gainCode,
  integrationTimeForAtime,
  type Rgbc,
  saturationThreshold,
  type Tcs34725Gain,
} from "./settings.ts";

/** One RGBC measurement, with the settings it was taken with. */
export interface RgbcReading extends Rgbc {
  /** Integration time of this reading (whole 2.4 ms cycles). */
  integrationTimeMs: number;
  gain: Tcs34725Gain;
  /** Clear reached the saturation threshold: ratios and lux are unreliable. Lower the gain or integration time. */
  saturated: boolean;
  /** When the data was read, on the driver's clock. */
  timestampMs: number;
}

export interface ReadOptions extends OperationOptions {
  /**
   * `"restart"` (default): restart the integration now and wait for it to complete, so the reading shows what is in
   * front of the sensor now (a skittle that just arrived), not an integration that began before it.
   * `"latest"`: return the last completed integration without restarting (faster; may predate recent changes).
   */
  freshness?: "restart" | "latest" | undefined;
}

/** Anything that produces RGBC readings: the TCS34725 driver, or a stand-in (see the colour-sensor conformance suite). */
export interface ColorSensor {
  read(options?: ReadOptions): Promise<RgbcReading>;
  /** Idempotent. */
  close(): Promise<void>;
}

export interface Tcs34725Settings {
  /** 2.4 … 614.4 ms, rounded to whole 2.4 ms cycles. Default 153.6 (ATIME 0xC0, as the original). */
  integrationTimeMs?: number | undefined;
  /** Default 16 (as the original). */
  gain?: Tcs34725Gain | undefined;
}

export interface Tcs34725Options extends Tcs34725Settings, OperationOptions {
  /** Default 0x29. */
  address?: number | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** How often STATUS is polled for AVALID once the integration should be done. Default 2.4 ms. */
  pollIntervalMs?: number | undefined;
  /** Give up waiting for AVALID after this long beyond the integration time. Default 100 ms + one integration. */
  readTimeoutMs?: number | undefined;
  /** Write ENABLE = 0 (sleep) on close. Default true. */
  powerDownOnClose?: boolean | undefined;
}

/** Time the oscillator needs after PON before RGBC may be enabled (≥ 2.4 ms by the datasheet). */
export const POWER_ON_DELAY_MS = 3;

function command(register: number): number {
  return COMMAND_BIT | register;
}

/**
 * Opens a TCS34725 on `bus`: checks the ID register, writes ATIME and CONTROL, powers on (PON), waits ≥ 2.4 ms, then
 * enables RGBC (PON|AEN). The bus stays the caller's; {@link Tcs34725.close} only puts the sensor to sleep.
 */
export async function openTcs34725(bus: I2cBus, options: Tcs34725Options = {}): Promise<Tcs34725> {
  const { signal } = options;
  signal?.throwIfAborted();
  const sensor = new Tcs34725(bus, options);
  await sensor.init({ signal });
  return sensor;
}

export class Tcs34725 implements ColorSensor {
  readonly address: number;
  readonly #bus: I2cBus;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #pollIntervalMs: number;
  readonly #readTimeoutMs: number | undefined;
  readonly #powerDownOnClose: boolean;
  #integrationTimeMs: number;
  #gain: Tcs34725Gain;
  #id = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  /** Use {@link openTcs34725}. */
  constructor(bus: I2cBus, options: Tcs34725Options = {}) {
    this.#bus = bus;
    this.address = options.address ?? TCS34725_ADDRESS;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.#pollIntervalMs = options.pollIntervalMs ?? CYCLE_MS;
    this.#readTimeoutMs = options.readTimeoutMs;
    this.#powerDownOnClose = options.powerDownOnClose ?? true;
    this.#integrationTimeMs = integrationTimeForAtime(
      atimeForIntegrationTime(options.integrationTimeMs ?? 153.6),
    );
    this.#gain = options.gain ?? 16;
    gainCode(this.#gain);
  }

  /** The ID register value read at open (0x44, 0x4D or 0x10). */
  get id(): number {
    return this.#id;
  }

  get integrationTimeMs(): number {
    return this.#integrationTimeMs;
  }

  get gain(): Tcs34725Gain {
    return this.#gain;
  }

  #exclusive<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) {
      throw new Tcs34725Error(
        "TCS34725_CLOSED",
        "The TCS34725 driver was closed. Open it again with openTcs34725() to take more readings.",
        { address: this.address },
      );
    }
  }

  #write(register: number, value: number, options: OperationOptions): Promise<void> {
    return this.#bus.writeByte(this.address, command(register), value, options);
  }

  /** Runs the power-up sequence; {@link openTcs34725} calls it. */
  init(options: OperationOptions = {}): Promise<void> {
    return this.#exclusive(async () => {
      this.#checkOpen();
      let id: number;
      try {
        id = await this.#bus.readByte(this.address, command(REG.ID), options);
      } catch (error) {
        if (isI2cError(error) && error.code === "I2C_NACK") {
          throw new Tcs34725Error(
            "TCS34725_NOT_FOUND",
            `No TCS34725 answered at ${hex(this.address)}. Check the wiring (VIN, GND, SDA to pin 3, SCL to pin 5) ` +
              "and that `i2cdetect -y 1` shows 29.",
            { address: this.address, cause: error },
          );
        }
        throw error;
      }
      if (!KNOWN_IDS.includes(id)) {
        throw new Tcs34725Error(
          "TCS34725_UNEXPECTED_ID",
          `The device at ${hex(this.address)} reports ID ${hex(id)}, not a TCS3472x (0x44, 0x4d or 0x10). ` +
            "Check that the address belongs to the colour sensor and not another chip.",
          { address: this.address, id },
        );
      }
      this.#id = id;
      await this.#write(REG.ATIME, atimeForIntegrationTime(this.#integrationTimeMs), options);
      await this.#write(REG.CONTROL, gainCode(this.#gain), options);
      await this.#write(REG.ENABLE, ENABLE.PON, options);
      await delay(POWER_ON_DELAY_MS, { clock: this.#clock, signal: options.signal });
      await this.#write(REG.ENABLE, ENABLE.PON | ENABLE.AEN, options);
      this.#logger.debug("tcs34725 ready", {
        address: this.address,
        id,
        integrationTimeMs: this.#integrationTimeMs,
        gain: this.#gain,
      });
    });
  }

  /** Changes integration time and/or gain; the next `read()` uses them. */
  configure(settings: Tcs34725Settings, options: OperationOptions = {}): Promise<void> {
    const integrationTimeMs =
      settings.integrationTimeMs === undefined
        ? this.#integrationTimeMs
        : integrationTimeForAtime(atimeForIntegrationTime(settings.integrationTimeMs));
    const gain = settings.gain ?? this.#gain;
    const control = gainCode(gain);
    return this.#exclusive(async () => {
      options.signal?.throwIfAborted();
      this.#checkOpen();
      await this.#write(REG.ATIME, atimeForIntegrationTime(integrationTimeMs), options);
      await this.#write(REG.CONTROL, control, options);
      this.#integrationTimeMs = integrationTimeMs;
      this.#gain = gain;
    });
  }

  /**
   * Takes a reading: (by default) restarts the integration, waits one integration time, polls STATUS until AVALID,
   * then reads C, R, G, B in one 8-byte auto-increment block read from CDATAL.
   */
  read(options: ReadOptions = {}): Promise<RgbcReading> {
    const { signal, freshness = "restart" } = options;
    return this.#exclusive(async () => {
      signal?.throwIfAborted();
      this.#checkOpen();
      const integrationTimeMs = this.#integrationTimeMs;
      const gain = this.#gain;
      const started = this.#clock.now();
      if (freshness === "restart") {
        await this.#write(REG.ENABLE, ENABLE.PON, { signal });
        await this.#write(REG.ENABLE, ENABLE.PON | ENABLE.AEN, { signal });
        await delay(integrationTimeMs + CYCLE_MS, { clock: this.#clock, signal });
      }
      const deadline = started + integrationTimeMs * 2 + CYCLE_MS + (this.#readTimeoutMs ?? 100);
      for (;;) {
        const status = await this.#bus.readByte(this.address, command(REG.STATUS), { signal });
        if ((status & STATUS.AVALID) !== 0) break;
        if (this.#clock.now() >= deadline) {
          throw new Tcs34725Error(
            "TCS34725_TIMEOUT",
            `The TCS34725 at ${hex(this.address)} did not finish an integration within ` +
              `${Math.round(deadline - started)} ms (STATUS.AVALID stayed 0). Check its power and that nothing else ` +
              "reconfigures it; reopen the driver to re-run the power-up sequence.",
            { address: this.address },
          );
        }
        await delay(this.#pollIntervalMs, { clock: this.#clock, signal });
      }
      const { buffer } = await this.#bus.readI2cBlock(
        this.address,
        command(AUTO_INCREMENT | REG.CDATAL),
        8,
        Buffer.alloc(8),
        { signal },
      );
      const clear = buffer.readUInt16LE(0);
      return {
        clear,
        red: buffer.readUInt16LE(2),
        green: buffer.readUInt16LE(4),
        blue: buffer.readUInt16LE(6),
        integrationTimeMs,
        gain,
        saturated: clear >= saturationThreshold(integrationTimeMs),
        timestampMs: this.#clock.now(),
      };
    });
  }

  /** Puts the sensor to sleep (ENABLE = 0) unless `powerDownOnClose` is false. Leaves the bus open. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      const powerDown = this.#powerDownOnClose && this.#id !== 0;
      this.#closing = this.#exclusive(async () => {
        if (powerDown) await this.#write(REG.ENABLE, 0x00, {});
      });
    }
    return this.#closing;
  }
}
