import { describe, expect, it } from "vitest";
import { percentileOfSorted, percentiles, perSecond } from "./index.ts";

describe("fleet statistics", () => {
  it("computes nearest-rank percentiles", () => {
    const samples = Array.from({ length: 100 }, (_, index) => 100 - index);
    expect(percentiles(samples)).toEqual({
      count: 100,
      min: 1,
      p50: 50,
      p90: 90,
      p99: 99,
      max: 100,
      mean: 50.5,
    });
    expect(percentiles([7])).toMatchObject({ p50: 7, p99: 7, max: 7 });
    expect(percentiles([])).toBeNull();
    expect(percentileOfSorted([1, 2, 3, 4], 50)).toBe(2);
    expect(percentileOfSorted([1, 2, 3, 4], 51)).toBe(3);
  });

  it("computes rates per second, 0 for an empty duration", () => {
    expect(perSecond(3, 1500)).toBe(2);
    expect(perSecond(3, 0)).toBe(0);
  });
});
