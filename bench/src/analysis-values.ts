// Reading figures out of an item's `details` and printing them, for the "Where we lose" paragraphs.

export type Details = Record<string, unknown>;

/** The value as a number; NaN when it is missing or not a number (printed "n/a" by {@link f}). */
export const num = (value: unknown): number => (typeof value === "number" ? value : Number.NaN);

/** The value at `path` inside nested objects; undefined where the path breaks off. */
export const at = (value: unknown, ...path: string[]): unknown => {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
};

/** A figure with `digits` decimals, or "n/a". */
export const f = (value: number, digits = 0): string =>
  Number.isFinite(value) ? value.toFixed(digits) : "n/a";
