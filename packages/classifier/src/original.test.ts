import { describe, expect, it } from "vitest";
import {
  classifyOriginal,
  classifyOriginalReading,
  fromOriginalColor,
  ORIGINAL_MOCK_READINGS,
  ORIGINAL_MOCK_SEQUENCE,
  ORIGINAL_NEUTRAL_READING,
  originalMockReading,
} from "./index.ts";

describe("classifyOriginal", () => {
  it.each([
    ["Red", 25000, 13000, 7000, 5000, "Red"],
    ["Green", 24000, 10000, 9000, 4500, "Green"],
    ["Yellow", 26000, 12000, 8500, 3000, "Yellow"],
    ["Purple", 23000, 11000, 8000, 5500, "Purple"],
    ["Orange", 22000, 14000, 7000, 4000, "Orange"],
    ["None", 65535, 22000, 16000, 11000, "None"],
    ["default neutral", 30000, 12000, 10000, 7000, "None"],
  ] as const)(
    "classifies the original mock %s reading (C=%i R=%i G=%i B=%i) as %s",
    (_, c, r, g, b, expected) => {
      expect(classifyOriginal(r, g, b, c)).toBe(expected);
    },
  );

  it("classifies every mock reading the way the original's mock names say", () => {
    for (const [name, reading] of Object.entries(ORIGINAL_MOCK_READINGS)) {
      expect(classifyOriginalReading(reading)).toBe(name);
    }
  });

  it("applies the background rules in the original order", () => {
    // Very bright background.
    expect(classifyOriginal(21000, 16000, 11000, 61000)).toBe("None");
    // Mid-brightness background, unless green enough (gr ≥ 0.85) to be a green skittle.
    expect(classifyOriginal(12000, 10000, 7000, 30000)).toBe("None");
    expect(classifyOriginal(12000, 11000, 7000, 30000)).toBe("Green");
    // Low-brightness background, unless purple-ish (br ≥ 0.5).
    expect(classifyOriginal(8000, 5000, 3000, 20000)).toBe("None");
    expect(classifyOriginal(8000, 5000, 4500, 20000)).toBe("Red");
    // Boundaries are strict: clear 25000 is outside the low-brightness window.
    expect(classifyOriginal(8000, 5000, 3000, 25000)).toBe("Orange");
  });

  it("falls through to Unknown where no ratio rule matches", () => {
    expect(classifyOriginal(10000, 4000, 5000, 20000)).toBe("Unknown");
    expect(classifyOriginal(10000, 7000, 3900, 40000)).toBe("Yellow");
    expect(classifyOriginal(10000, 6000, 3900, 40000)).toBe("Red");
    // br exactly 0.38 is neither Orange (br < 0.38) nor Red (br > 0.38).
    expect(classifyOriginal(10000, 6000, 3800, 40000)).toBe("Unknown");
  });

  it("keeps the original's divide-by-zero behaviour for R = 0", () => {
    expect(classifyOriginal(0, 100, 100, 1000)).toBe("Green");
    expect(classifyOriginal(0, 0, 0, 0)).toBe("Unknown");
  });
});

describe("original mock sensor", () => {
  it("matches names case-sensitively, falling back to the neutral reading (which classifies None)", () => {
    expect(originalMockReading("Purple")).toEqual(ORIGINAL_MOCK_READINGS.Purple);
    expect(originalMockReading("purple")).toEqual(ORIGINAL_NEUTRAL_READING);
    expect(originalMockReading("toString")).toEqual(ORIGINAL_NEUTRAL_READING);
    expect(classifyOriginalReading(originalMockReading("red"))).toBe("None");
    expect(ORIGINAL_MOCK_SEQUENCE).toEqual(["Red", "Green", "Yellow", "Purple", "Orange", "Red", "Green"]);
  });

  it("maps original results onto our labels", () => {
    expect(fromOriginalColor("Orange")).toBe("orange");
    expect(fromOriginalColor("None")).toBe("empty");
    expect(fromOriginalColor("Unknown")).toBe("unknown");
  });
});
