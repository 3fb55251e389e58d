import { describe, expect, it } from "vitest";
import { azureTicks, azureTimestamp } from "./azure-time.ts";

describe("azureTimestamp", () => {
  it("writes UTC with seven fractional digits, as Azure does", () => {
    expect(azureTimestamp(Date.UTC(2022, 6, 5, 21, 27, 16, 812))).toBe("2022-07-05T21:27:16.8120000Z");
    expect(azureTimestamp(0)).toBe("1970-01-01T00:00:00.0000000Z");
    expect(azureTimestamp(Date.UTC(2026, 0, 1, 0, 0, 0, 5))).toBe("2026-01-01T00:00:00.0050000Z");
  });

  it("keeps years beyond 9999 in ISO's extended form", () => {
    expect(azureTimestamp(Date.UTC(10000, 0, 1, 0, 0, 0, 1))).toBe("+010000-01-01T00:00:00.0010000Z");
  });
});

describe("azureTicks", () => {
  it("counts .NET ticks from 0001-01-01", () => {
    expect(azureTicks(0)).toBe("621355968000000000");
  });
});
