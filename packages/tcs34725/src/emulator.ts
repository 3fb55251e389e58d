import { type Clock, systemClock } from "@skittlesorter/core";
import type { I2cDevice } from "@skittlesorter/i2c/emulator";
import { hex } from "./errors.ts";
import {
  AUTO_INCREMENT,
  COMMAND_BIT,
  ENABLE,
  REG,
  SF_CLEAR_INTERRUPT,
  SPECIAL_FUNCTION,
  STATUS,
} from "./registers.ts";
import { CYCLE_MS, gainFromControl, type Rgbc, type Tcs34725Gain } from "./settings.ts";

const GAIN_FACTOR: Readonly<Record<Tcs34725Gain, number>> = { 1: 1, 4: 4, 16: 16, 60: 60 };

/** Converts the raw counts wanted at some settings into the light level (counts per ms at 1× gain) that yields them. */
export function lightForCounts(
  counts: Rgbc,
  settings: { integrationTimeMs: number; gain: Tcs34725Gain },
): Rgbc {
  const scale = settings.integrationTimeMs * GAIN_FACTOR[settings.gain];
  return {
    clear: counts.clear / scale,
    red: counts.red / scale,
    green: counts.green / scale,
    blue: counts.blue / scale,
  };
}

export interface Tcs34725EmulatorOptions {
  /** Value of the ID register. Default 0x44 (TCS34725). */
  id?: number | undefined;
  /** Drives the integration timing. Default: the system clock. */
  clock?: Clock | undefined;
  /** Initial light, in counts per ms of integration at 1× gain. Default: darkness. */
  light?: Rgbc | undefined;
  /**
   * Per-integration multiplicative noise: each channel × (1 + fraction × N(0, 1)), drawn from `random` (uniform
   * [0, 1)). Default: none.
   */
  noise?: { fraction: number; random: () => number } | undefined;
}

interface LightSegment {
  fromMs: number;
  light: Rgbc;
}

const WRITABLE = new Set<number>([
  REG.ENABLE,
  REG.ATIME,
  REG.WTIME,
  REG.AILTL,
  REG.AILTH,
  REG.AIHTL,
  REG.AIHTH,
  REG.PERS,
  REG.CONFIG,
  REG.CONTROL,
]);
const READ_ONLY = new Set<number>([
  REG.ID,
  REG.STATUS,
  REG.CDATAL,
  REG.CDATAH,
  REG.RDATAL,
  REG.RDATAH,
  REG.GDATAL,
  REG.GDATAH,
  REG.BDATAL,
  REG.BDATAH,
]);

const HISTORY_MS = 2000;

/**
 * Register-level emulator of a TCS34725 for {@link FakeI2cBus}. It decodes the COMMAND byte (CMD bit required; TYPE
 * 00 repeated byte, 01 auto-increment, 11 special function 0x06 = clear interrupt), keeps reset values, and models
 * integration on its clock: with PON and AEN set, cycles of (256 − ATIME) × 2.4 ms run back to back from the moment
 * AEN was set; each completed cycle integrates the light over exactly that window (× gain, capped at
 * min(65535, 1024 × cycles)) into the data registers and sets STATUS.AVALID. Clearing AEN clears AVALID.
 * With AIEN set, a clear count outside AILT…AIHT sets STATUS.AINT (persistence is not modelled).
 * Setting AEN less than 2.4 ms after PON is recorded in {@link violations} and delays the first cycle.
 */
export class Tcs34725Emulator implements I2cDevice {
  readonly #clock: Clock;
  readonly #noise: { fraction: number; random: () => number } | undefined;
  readonly #registers = new Uint8Array(0x20);
  readonly #violations: string[] = [];
  #segments: LightSegment[];
  #source: ((atMs: number) => Rgbc) | undefined;
  #pointer = 0;
  #autoIncrement = false;
  #poweredAtMs: number | undefined;
  #runningFromMs: number | undefined;
  #lastCycle = -1;

  constructor(options: Tcs34725EmulatorOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#noise = options.noise;
    this.#segments = [
      { fromMs: Number.NEGATIVE_INFINITY, light: options.light ?? { clear: 0, red: 0, green: 0, blue: 0 } },
    ];
    this.#registers[REG.ATIME] = 0xff;
    this.#registers[REG.WTIME] = 0xff;
    this.#registers[REG.ID] = options.id ?? 0x44;
  }

  /** Protocol mistakes seen so far (a correct driver leaves this empty). */
  get violations(): readonly string[] {
    return this.#violations;
  }

  /**
   * Lets the light depend on time, e.g. on where an emulated feeder arm is: `source(atMs)` gives counts per ms at 1×
   * gain, and each integration sums it over 1 ms steps. {@link setLight} replaces it again.
   */
  setLightSource(source: (atMs: number) => Rgbc): void {
    this.#source = source;
  }

  /** From now on the sensor sees this light: counts per ms of integration at 1× gain, per channel. */
  setLight(light: Rgbc): void {
    this.#source = undefined;
    const now = this.#clock.now();
    this.#segments = this.#segments.filter((_segment, index, all) => {
      const next = all[index + 1];
      return next === undefined || next.fromMs > now - HISTORY_MS;
    });
    const last = this.#segments.at(-1);
    if (last !== undefined && last.fromMs === now) last.light = { ...light };
    else this.#segments.push({ fromMs: now, light: { ...light } });
  }

  /** From now on the sensor sees a target that reads as `counts` at the current ATIME and gain. */
  present(counts: Rgbc): void {
    this.setLight(lightForCounts(counts, { integrationTimeMs: this.integrationTimeMs, gain: this.gain }));
  }

  get integrationTimeMs(): number {
    return (256 - (this.#registers[REG.ATIME] ?? 0xff)) * CYCLE_MS;
  }

  get gain(): Tcs34725Gain {
    return gainFromControl(this.#registers[REG.CONTROL] ?? 0);
  }

  /** A register's current value, without the side effects of a bus read. */
  register(address: number): number {
    this.#update();
    return this.#registers[address & 0x1f] ?? 0;
  }

  write(bytes: Uint8Array): void {
    const [commandByte, ...data] = bytes;
    if (commandByte === undefined) return;
    if ((commandByte & COMMAND_BIT) === 0) {
      this.#violate(`command byte ${hex(commandByte)} lacks the CMD bit (0x80); the TCS34725 ignores it`);
      throw new Error(`TCS34725 emulator: command byte ${hex(commandByte)} lacks the CMD bit (0x80)`);
    }
    const type = commandByte & 0x60;
    const address = commandByte & 0x1f;
    if (type === SPECIAL_FUNCTION) {
      if (address !== SF_CLEAR_INTERRUPT) {
        this.#violate(`special function ${hex(address)} is reserved`);
        throw new Error(`TCS34725 emulator: special function ${hex(address)} is reserved`);
      }
      this.#registers[REG.STATUS] = (this.#registers[REG.STATUS] ?? 0) & ~STATUS.AINT;
      return;
    }
    if (type === 0x40) {
      this.#violate(`command byte ${hex(commandByte)} uses the reserved TYPE 10`);
      throw new Error(`TCS34725 emulator: command byte ${hex(commandByte)} uses the reserved TYPE 10`);
    }
    this.#pointer = address;
    this.#autoIncrement = type === AUTO_INCREMENT;
    for (const value of data) {
      this.#writeRegister(this.#pointer, value);
      if (this.#autoIncrement) this.#pointer = (this.#pointer + 1) & 0x1f;
    }
  }

  read(length: number): Uint8Array {
    this.#update();
    const out = new Uint8Array(length);
    for (let index = 0; index < length; index += 1) {
      const address = this.#pointer;
      if (!WRITABLE.has(address) && !READ_ONLY.has(address)) {
        this.#violate(`read of reserved register ${hex(address)}`);
      }
      out[index] = this.#registers[address] ?? 0;
      if (this.#autoIncrement) this.#pointer = (this.#pointer + 1) & 0x1f;
    }
    return out;
  }

  #violate(message: string): void {
    this.#violations.push(message);
  }

  #writeRegister(address: number, value: number): void {
    if (READ_ONLY.has(address)) {
      this.#violate(`write of ${hex(value)} to read-only register ${hex(address)}`);
      return;
    }
    if (!WRITABLE.has(address)) {
      this.#violate(`write of ${hex(value)} to reserved register ${hex(address)}`);
      return;
    }
    this.#update();
    const now = this.#clock.now();
    if (address === REG.ENABLE) {
      const before = this.#registers[REG.ENABLE] ?? 0;
      const pon = (value & ENABLE.PON) !== 0;
      const aen = (value & ENABLE.AEN) !== 0;
      if (!pon) {
        this.#poweredAtMs = undefined;
        this.#stop();
      } else {
        if ((before & ENABLE.PON) === 0) this.#poweredAtMs = now;
        if (!aen) this.#stop();
        else if ((before & ENABLE.AEN) === 0 || (before & ENABLE.PON) === 0) {
          const poweredFor = now - (this.#poweredAtMs ?? now);
          if (poweredFor < CYCLE_MS) {
            this.#violate(
              `RGBC enabled ${poweredFor.toFixed(1)} ms after PON; the datasheet requires at least 2.4 ms`,
            );
          }
          this.#start(Math.max(now, (this.#poweredAtMs ?? now) + CYCLE_MS));
        }
      }
      this.#registers[REG.ENABLE] = value & 0x1b;
      return;
    }
    this.#registers[address] = value;
    if ((address === REG.ATIME || address === REG.CONTROL) && this.#runningFromMs !== undefined) {
      // A new setting applies from the next integration cycle; modelled as a restart of the cycle timing.
      this.#runningFromMs = now;
      this.#lastCycle = -1;
    }
  }

  #start(fromMs: number): void {
    this.#runningFromMs = fromMs;
    this.#lastCycle = -1;
    this.#registers[REG.STATUS] = (this.#registers[REG.STATUS] ?? 0) & ~STATUS.AVALID;
  }

  #stop(): void {
    this.#runningFromMs = undefined;
    this.#lastCycle = -1;
    this.#registers[REG.STATUS] = (this.#registers[REG.STATUS] ?? 0) & ~STATUS.AVALID;
  }

  /** Brings the data registers up to date with the clock: latches the last completed integration cycle. */
  #update(): void {
    const from = this.#runningFromMs;
    if (from === undefined) return;
    const cycleMs = this.integrationTimeMs;
    const completed = Math.floor((this.#clock.now() - from + 1e-9) / cycleMs);
    if (completed < 1 || completed - 1 === this.#lastCycle) return;
    this.#lastCycle = completed - 1;
    const start = from + (completed - 1) * cycleMs;
    this.#latch(this.#integrate(start, start + cycleMs));
  }

  #integrate(startMs: number, endMs: number): Rgbc {
    const sum: Rgbc = { clear: 0, red: 0, green: 0, blue: 0 };
    const source = this.#source;
    if (source !== undefined) {
      const steps = Math.max(1, Math.ceil(endMs - startMs));
      const step = (endMs - startMs) / steps;
      for (let index = 0; index < steps; index += 1) {
        const light = source(startMs + (index + 0.5) * step);
        sum.clear += light.clear * step;
        sum.red += light.red * step;
        sum.green += light.green * step;
        sum.blue += light.blue * step;
      }
      return this.#finish(sum, endMs - startMs);
    }
    this.#segments.forEach((segment, index) => {
      const segmentEnd = this.#segments[index + 1]?.fromMs ?? Number.POSITIVE_INFINITY;
      const overlap = Math.min(endMs, segmentEnd) - Math.max(startMs, segment.fromMs);
      if (overlap <= 0) return;
      sum.clear += segment.light.clear * overlap;
      sum.red += segment.light.red * overlap;
      sum.green += segment.light.green * overlap;
      sum.blue += segment.light.blue * overlap;
    });
    return this.#finish(sum, endMs - startMs);
  }

  /** Applies gain, noise and full-scale clipping to integrated light. */
  #finish(sum: Rgbc, durationMs: number): Rgbc {
    const gain = GAIN_FACTOR[this.gain];
    const cycles = Math.round(durationMs / CYCLE_MS);
    const full = Math.min(65535, 1024 * cycles);
    const scale = (value: number): number => {
      const noisy = value * gain * (1 + this.#gaussian());
      return Math.max(0, Math.min(full, Math.round(noisy)));
    };
    return { clear: scale(sum.clear), red: scale(sum.red), green: scale(sum.green), blue: scale(sum.blue) };
  }

  #gaussian(): number {
    if (this.#noise === undefined || this.#noise.fraction === 0) return 0;
    const u = Math.max(this.#noise.random(), Number.MIN_VALUE);
    const v = this.#noise.random();
    return this.#noise.fraction * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  #latch(counts: Rgbc): void {
    const words = [counts.clear, counts.red, counts.green, counts.blue];
    words.forEach((word, index) => {
      this.#registers[REG.CDATAL + 2 * index] = word & 0xff;
      this.#registers[REG.CDATAH + 2 * index] = word >> 8;
    });
    let status = (this.#registers[REG.STATUS] ?? 0) | STATUS.AVALID;
    const low = (this.#registers[REG.AILTL] ?? 0) | ((this.#registers[REG.AILTH] ?? 0) << 8);
    const high = (this.#registers[REG.AIHTL] ?? 0) | ((this.#registers[REG.AIHTH] ?? 0) << 8);
    const interruptsEnabled = ((this.#registers[REG.ENABLE] ?? 0) & ENABLE.AIEN) !== 0;
    if (interruptsEnabled && (counts.clear < low || counts.clear > high)) status |= STATUS.AINT;
    this.#registers[REG.STATUS] = status;
  }
}
