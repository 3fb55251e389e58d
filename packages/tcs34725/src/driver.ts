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
  /**
   * Clear reached the saturation threshold: ratios and lux are unreliable. With auto-ranging, even the least sensitive
   * setting saturated; without, lower the gain or integration time.
   */
  saturated: boolean;
  /**
   * The counts as they would read at the driver's reference settings (those it was opened with): raw × (reference
   * time × gain) / (this time × gain). Equal to the raw counts unless auto-ranging changed the settings; compare and
   * average these across readings.
   */
  normalized: Rgbc;
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

/** A setting auto-ranging may use. */
export interface RangeStep {
  integrationTimeMs: number;
  gain: Tcs34725Gain;
}

/**
 * Dim → bright: the settings auto-ranging moves between by default (after the Adafruit autorange example's table,
 * extended with shorter integrations at 1× for light that saturates even 1× at 153.6 ms).
 */
export const DEFAULT_RANGE_STEPS: readonly RangeStep[] = [
  { integrationTimeMs: 614.4, gain: 60 },
  { integrationTimeMs: 153.6, gain: 60 },
  { integrationTimeMs: 153.6, gain: 16 },
  { integrationTimeMs: 153.6, gain: 4 },
  { integrationTimeMs: 153.6, gain: 1 },
  { integrationTimeMs: 38.4, gain: 1 },
  { integrationTimeMs: 9.6, gain: 1 },
  { integrationTimeMs: 2.4, gain: 1 },
];

export interface AutoRangeOptions {
  /** The settings to move between; any order. Default {@link DEFAULT_RANGE_STEPS}. */
  steps?: readonly RangeStep[] | undefined;
  /** Step to a less sensitive setting when clear reaches this fraction of the saturation threshold. Default 0.9. */
  highFraction?: number | undefined;
  /**
   * Step to a more sensitive setting when clear is below this fraction of the saturation threshold, if the counts
   * expected there stay below `highFraction`. Default 0.1.
   */
  lowFraction?: number | undefined;
}

export interface Tcs34725Options extends Tcs34725Settings, OperationOptions {
  /**
   * Gain/integration auto-ranging: a reading whose clear count nears saturation is retaken at a less sensitive setting,
   * one that is too dark at a more sensitive one; the setting found is kept for the next read. Readings report the
   * settings used and `normalized` counts at the opening settings. `true` for the defaults. Default off: every reading
   * is taken at the configured settings, as before.
   */
  autoRange?: boolean | AutoRangeOptions | undefined;
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
  readonly #referenceSensitivity: number;
  readonly #autoRange: AutoRange | undefined;
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
    this.#referenceSensitivity = this.#integrationTimeMs * this.#gain;
    this.#autoRange = autoRangeSettings(options.autoRange);
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
      let reading = await this.#readOnce(freshness, signal);
      const autoRange = this.#autoRange;
      if (autoRange === undefined) return reading;
      // Each step moves one setting along the ladder, so this ends within its length.
      for (let attempt = 0; attempt < autoRange.steps.length; attempt += 1) {
        const next = nextRange(reading, autoRange);
        if (next === undefined) break;
        this.#logger.debug("tcs34725 auto-range", { clear: reading.clear, from: rangeOf(reading), to: next });
        await this.#write(REG.ATIME, atimeForIntegrationTime(next.integrationTimeMs), { signal });
        await this.#write(REG.CONTROL, gainCode(next.gain), { signal });
        this.#integrationTimeMs = next.integrationTimeMs;
        this.#gain = next.gain;
        // A new setting only applies from a new integration, so never return one begun before it.
        reading = await this.#readOnce("restart", signal);
      }
      return reading;
    });
  }

  async #readOnce(freshness: "restart" | "latest", signal: AbortSignal | undefined): Promise<RgbcReading> {
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
    const counts = {
      clear: buffer.readUInt16LE(0),
      red: buffer.readUInt16LE(2),
      green: buffer.readUInt16LE(4),
      blue: buffer.readUInt16LE(6),
    };
    const scale = this.#referenceSensitivity / (integrationTimeMs * gain);
    return {
      ...counts,
      integrationTimeMs,
      gain,
      saturated: counts.clear >= saturationThreshold(integrationTimeMs),
      normalized: {
        clear: counts.clear * scale,
        red: counts.red * scale,
        green: counts.green * scale,
        blue: counts.blue * scale,
      },
      timestampMs: this.#clock.now(),
    };
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

interface AutoRange {
  /** Most sensitive first. */
  steps: readonly RangeStep[];
  highFraction: number;
  lowFraction: number;
}

const rangeOf = (step: RangeStep): RangeStep => ({
  integrationTimeMs: step.integrationTimeMs,
  gain: step.gain,
});
const sensitivity = (step: RangeStep): number => step.integrationTimeMs * step.gain;

function autoRangeSettings(option: boolean | AutoRangeOptions | undefined): AutoRange | undefined {
  if (option === undefined || option === false) return undefined;
  const {
    steps = DEFAULT_RANGE_STEPS,
    highFraction = 0.9,
    lowFraction = 0.1,
  } = option === true ? {} : option;
  if (!(highFraction > 0 && highFraction <= 1 && lowFraction >= 0 && lowFraction < highFraction)) {
    throw new Tcs34725Error(
      "TCS34725_INVALID_OPTION",
      `autoRange needs 0 ≤ lowFraction < highFraction ≤ 1, got lowFraction ${String(lowFraction)} and highFraction ` +
        `${String(highFraction)}. The defaults are 0.1 and 0.9.`,
    );
  }
  if (steps.length === 0) {
    throw new Tcs34725Error(
      "TCS34725_INVALID_OPTION",
      "autoRange.steps is empty; give at least one setting.",
    );
  }
  const normalized = steps.map((step) => {
    gainCode(step.gain);
    return {
      integrationTimeMs: integrationTimeForAtime(atimeForIntegrationTime(step.integrationTimeMs)),
      gain: step.gain,
    };
  });
  return { steps: normalized.sort((a, b) => sensitivity(b) - sensitivity(a)), highFraction, lowFraction };
}

/**
 * The setting the next read should use, or undefined to keep this reading: one step less sensitive when clear nears
 * saturation, one step more sensitive when it is dark and the counts expected there stay clear of the high mark.
 */
function nextRange(reading: RgbcReading, autoRange: AutoRange): RangeStep | undefined {
  const { steps, highFraction, lowFraction } = autoRange;
  const current = sensitivity(reading);
  const threshold = saturationThreshold(reading.integrationTimeMs);
  if (reading.clear >= highFraction * threshold) {
    return steps.find((step) => sensitivity(step) < current);
  }
  if (reading.clear < lowFraction * threshold) {
    const brighter = steps.filter((step) => sensitivity(step) > current).at(-1);
    if (brighter === undefined) return undefined;
    const expected = (reading.clear * sensitivity(brighter)) / current;
    if (expected < highFraction * saturationThreshold(brighter.integrationTimeMs)) return brighter;
  }
  return undefined;
}
