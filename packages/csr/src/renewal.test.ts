import type { Clock } from "@skittlesorter/core";
import { describe, expect, it } from "vitest";
import { isRenewalDue, renewalDueAt } from "./index.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const clockAt = (now: number): Clock => ({
  now: () => now,
  setTimeout: () => undefined,
  clearTimeout: () => {},
});

describe("renewal maths", () => {
  const notAfter = new Date("2030-01-31T00:00:00Z");

  it("is due the renewal window before expiry", () => {
    expect(renewalDueAt(notAfter, 7 * DAY_MS).toISOString()).toBe("2030-01-24T00:00:00.000Z");
    expect(renewalDueAt(notAfter, 0).getTime()).toBe(notAfter.getTime());
  });

  it("uses the injected clock", () => {
    const window = { renewalWindowMs: 7 * DAY_MS };
    const due = notAfter.getTime() - 7 * DAY_MS;
    expect(isRenewalDue(notAfter, { ...window, clock: clockAt(due - 1) })).toBe(false);
    expect(isRenewalDue(notAfter, { ...window, clock: clockAt(due) })).toBe(true);
    expect(isRenewalDue(notAfter, { ...window, clock: clockAt(notAfter.getTime() + DAY_MS) })).toBe(true);
  });

  it("refuses a negative or non-finite window and an invalid date", () => {
    expect(() => renewalDueAt(notAfter, -1)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => renewalDueAt(notAfter, Number.NaN)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => renewalDueAt(new Date("nope"), 1)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
