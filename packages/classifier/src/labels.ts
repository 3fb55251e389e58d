/** Raw counts of the four channels of a colour sensor; `saturated` as the driver reports it. */
export interface RgbcLike {
  clear: number;
  red: number;
  green: number;
  blue: number;
  saturated?: boolean | undefined;
  /**
   * The counts scaled to one reference gain and integration time, when the sensor auto-ranges (the TCS34725 driver's
   * `normalized`). Classifiers compare and average these, so readings taken at different settings mix correctly.
   */
  normalized?: { clear: number; red: number; green: number; blue: number } | undefined;
}

/** The five Skittles colours. */
export const SKITTLE_COLORS = ["red", "green", "orange", "yellow", "purple"] as const;
export type SkittleColor = (typeof SKITTLE_COLORS)[number];

/** The class of an empty feeder slot (the original's "None"). */
export const EMPTY = "empty";
/** What a classifier answers when it cannot tell (the original's "Unknown"). */
export const UNKNOWN = "unknown";

/** The labels of the default classes: five colours and the empty slot. */
export type SkittleLabel = SkittleColor | typeof EMPTY;
