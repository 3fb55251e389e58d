import { Tcs34725Error } from "./errors.ts";

/** Analog gain of the RGBC channels. */
export type Tcs34725Gain = 1 | 4 | 16 | 60;

/** Raw counts of the four channels. */
export interface Rgbc {
  clear: number;
  red: number;
  green: number;
  blue: number;
}

/** Length of one integration cycle. */
export const CYCLE_MS = 2.4;

const GAIN_CODES: Readonly<Record<Tcs34725Gain, number>> = { 1: 0, 4: 1, 16: 2, 60: 3 };
const GAINS: readonly Tcs34725Gain[] = [1, 4, 16, 60];

/** CONTROL.AGAIN code for a gain. */
export function gainCode(gain: Tcs34725Gain): number {
  const code = GAIN_CODES[gain];
  if (code === undefined) {
    throw new Tcs34725Error(
      "TCS34725_INVALID_OPTION",
      `gain must be 1, 4, 16 or 60, got ${String(gain)}. Pick one of the sensor's four gains.`,
    );
  }
  return code;
}

/** The gain a CONTROL register value selects. */
export function gainFromControl(control: number): Tcs34725Gain {
  return GAINS[control & 0x03] ?? 1;
}

/** Integration cycles (1…256) for an integration time, rounded to the nearest 2.4 ms cycle. */
export function cyclesForIntegrationTime(integrationTimeMs: number): number {
  const cycles = Math.round(integrationTimeMs / CYCLE_MS);
  if (!Number.isFinite(integrationTimeMs) || cycles < 1 || cycles > 256) {
    throw new Tcs34725Error(
      "TCS34725_INVALID_OPTION",
      `integrationTimeMs must be between 2.4 and 614.4 (whole 2.4 ms cycles), got ${String(integrationTimeMs)}. ` +
        "Multiples of 50 ms (e.g. 153.6 ≈ 150) also reject mains flicker.",
    );
  }
  return cycles;
}

/** ATIME register value for an integration time: 256 − cycles (153.6 ms → 0xC0, 100 ms → 0xD6). */
export function atimeForIntegrationTime(integrationTimeMs: number): number {
  return 256 - cyclesForIntegrationTime(integrationTimeMs);
}

/** Integration time an ATIME value gives: (256 − ATIME) × 2.4 ms. */
export function integrationTimeForAtime(atime: number): number {
  return Math.round((256 - (atime & 0xff)) * CYCLE_MS * 10) / 10;
}

/** Full-scale count: 1024 per cycle, capped at 65535. */
export function maxCount(integrationTimeMs: number): number {
  return Math.min(65535, 1024 * cyclesForIntegrationTime(integrationTimeMs));
}

/**
 * The clear count at or above which a reading is treated as saturated: full scale, or 75 % of it below 64 cycles
 * (153.6 ms), where mains ripple can clip the peaks (ams DN40 §3.6; Adafruit `calculateColorTemperature_dn40`).
 */
export function saturationThreshold(integrationTimeMs: number): number {
  const cycles = cyclesForIntegrationTime(integrationTimeMs);
  const full = maxCount(integrationTimeMs);
  return cycles < 64 ? full - full / 4 : full;
}

export interface Dn40Options {
  /** 1 / transmissivity of any glass or window over the sensor. Default 1 (open air). */
  glassAttenuation?: number | undefined;
  /** Device factor DF of DN40. Default 310 (TCS34725). */
  deviceFactor?: number | undefined;
}

export interface Dn40Result {
  /** Illuminance in lux. Never negative. */
  lux: number;
  /** Correlated colour temperature in kelvin. */
  colorTemperatureK: number;
  /** The infrared estimate DN40 subtracted from each channel. */
  ir: number;
}

/**
 * Lux and correlated colour temperature by ams application note DN40, from a reading and the settings it was taken
 * with. Undefined when the reading is saturated (clear at or above {@link saturationThreshold}) or has no red left
 * after IR removal, where the formulas mean nothing.
 */
export function dn40(
  reading: Rgbc & { integrationTimeMs: number; gain: Tcs34725Gain },
  options: Dn40Options = {},
): Dn40Result | undefined {
  const { glassAttenuation = 1, deviceFactor = 310 } = options;
  const { clear, red, green, blue, integrationTimeMs, gain } = reading;
  if (clear >= saturationThreshold(integrationTimeMs)) return undefined;
  const sum = red + green + blue;
  const ir = sum > clear ? (sum - clear) / 2 : 0;
  const r = red - ir;
  const g = green - ir;
  const b = blue - ir;
  if (r <= 0) return undefined;
  const g1 = 0.136 * r + 1.0 * g - 0.444 * b;
  const countsPerLux = (integrationTimeMs * gain) / (glassAttenuation * deviceFactor);
  return { lux: Math.max(0, g1 / countsPerLux), colorTemperatureK: (3810 * b) / r + 1391, ir };
}
