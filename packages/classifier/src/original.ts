import type { RgbcLike, SkittleLabel } from "./labels.ts";
import { EMPTY, UNKNOWN } from "./labels.ts";

/** What the original C# classifier returns (case as in the original). */
export type OriginalColor = "Red" | "Green" | "Yellow" | "Purple" | "Orange" | "None" | "Unknown";

/**
 * The original sorter's threshold classifier (`TCS3472x.ClassifySkittleColor`), reproduced exactly: the same
 * argument order (red, green, blue, clear), the same double-precision ratios gr = G/R and br = B/R, the same rules
 * in the same order. Like the original, R = 0 gives gr = Infinity (→ "Green") or NaN (0/0 → "Unknown").
 */
export function classifyOriginal(red: number, green: number, blue: number, clear: number): OriginalColor {
  const gr = green / red;
  const br = blue / red;
  // True saturated nothing
  if (clear === 65535) return "None";
  // Very bright background nothing
  if (clear > 60000 && red > 20000 && green > 15000 && blue > 10000) return "None";
  // Mid-brightness background (chute colour)
  if (
    clear > 28000 &&
    clear < 36000 &&
    red > 11000 &&
    red < 14000 &&
    green > 9000 &&
    green < 12000 &&
    blue > 6000 &&
    blue < 8000 &&
    gr < 0.85
  ) {
    return "None";
  }
  // Low-brightness background (chute colour): empty sensor readings
  if (
    clear > 10000 &&
    clear < 25000 &&
    red > 5000 &&
    red < 10000 &&
    green > 3500 &&
    green < 7000 &&
    blue > 2500 &&
    blue < 5500 &&
    gr < 0.8 &&
    br < 0.5
  ) {
    return "None";
  }
  if (gr > 0.82) return "Green";
  if (gr > 0.72 && br > 0.48) return "Purple";
  if (gr > 0.66 && br < 0.4) return "Yellow";
  if (gr > 0.48 && br < 0.38) return "Orange";
  if (gr > 0.53 && br > 0.38) return "Red";
  return "Unknown";
}

/** {@link classifyOriginal} on a reading object. */
export function classifyOriginalReading(reading: RgbcLike): OriginalColor {
  // The thresholds are counts at the original's settings; normalised counts keep them meaningful when auto-ranging.
  const { red, green, blue, clear } = reading.normalized ?? reading;
  return classifyOriginal(red, green, blue, clear);
}

/** The original mock sensor's fixed readings per (case-sensitive) colour name. */
export const ORIGINAL_MOCK_READINGS: Readonly<Record<Exclude<OriginalColor, "Unknown">, Readonly<RgbcLike>>> =
  Object.freeze({
    Red: Object.freeze({ clear: 25000, red: 13000, green: 7000, blue: 5000 }),
    Green: Object.freeze({ clear: 24000, red: 10000, green: 9000, blue: 4500 }),
    Yellow: Object.freeze({ clear: 26000, red: 12000, green: 8500, blue: 3000 }),
    Purple: Object.freeze({ clear: 23000, red: 11000, green: 8000, blue: 5500 }),
    Orange: Object.freeze({ clear: 22000, red: 14000, green: 7000, blue: 4000 }),
    None: Object.freeze({ clear: 65535, red: 22000, green: 16000, blue: 11000 }),
  });

/** The original mock sensor's "default neutral" reading (any other name, or an empty sequence); it classifies "None". */
export const ORIGINAL_NEUTRAL_READING: Readonly<RgbcLike> = Object.freeze({
  clear: 30000,
  red: 12000,
  green: 10000,
  blue: 7000,
});

/** The original mock sensor's default colour sequence (cycled). */
export const ORIGINAL_MOCK_SEQUENCE: readonly string[] = Object.freeze([
  "Red",
  "Green",
  "Yellow",
  "Purple",
  "Orange",
  "Red",
  "Green",
]);

/** The original mock sensor's reading for a colour name: exact, case-sensitive match, else the neutral reading. */
export function originalMockReading(name: string): RgbcLike {
  const known = Object.hasOwn(ORIGINAL_MOCK_READINGS, name)
    ? ORIGINAL_MOCK_READINGS[name as keyof typeof ORIGINAL_MOCK_READINGS]
    : ORIGINAL_NEUTRAL_READING;
  return { ...known };
}

/** Our label for an original result: colours lower-cased, "None" → "empty", "Unknown" → "unknown". */
export function fromOriginalColor(color: OriginalColor): SkittleLabel | typeof UNKNOWN {
  if (color === "None") return EMPTY;
  if (color === "Unknown") return UNKNOWN;
  return color.toLowerCase() as SkittleLabel;
}
