import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config/index.ts";
import { runEmulatedSort } from "./emulated-sort.ts";
import { ConfigError } from "./errors.ts";
import { ORIGINAL_FIXED_SLEEPS } from "./sorter.ts";

describe("runEmulatedSort", () => {
  it("sorts the same skittles correctly with the original's fixed sleeps, at fewer skittles/min than derived waits", async () => {
    const derived = await runEmulatedSort({ skittles: 60, seed: 3 });
    const fixed = await runEmulatedSort({ skittles: 60, seed: 3, timing: ORIGINAL_FIXED_SLEEPS });
    expect(derived.timing).toBe("derived");
    expect(fixed.timing).toBe("fixed-sleep");
    for (const result of [derived, fixed]) {
      expect(result.sorted).toBe(60);
      expect(result.accuracy).toBe(1);
      expect(result.stopReason).toBe("hopper-empty");
    }
    // Same seed, same skittles: the bins hold the same counts whatever the timing.
    expect(fixed.bins).toEqual(derived.bins);
    expect(Object.keys(derived.bins).sort()).toEqual(["Green", "Orange", "Purple", "Red", "Yellow"]);
    expect(fixed.skittlesPerMinute).toBeLessThan(derived.skittlesPerMinute);
    // The sleeps were applied: a cycle of pick + detect + drop sleeps alone is 3 s of rig time, so ≤ 20/min.
    expect(fixed.skittlesPerMinute).toBeLessThanOrEqual(20);
  });

  it("misplaces skittles with fixed sleeps too short for the chute", async () => {
    // No chute sleep: the arm reaches the drop position ~200 ms after the chute starts, too soon for long chute moves.
    const result = await runEmulatedSort({
      skittles: 60,
      seed: 3,
      timing: { pickMs: 600, detectMs: 400, chuteMs: 0, dropMs: 250 },
    });
    expect(result.sorted).toBe(60);
    expect(result.misplaced).toBeGreaterThan(5);
    expect(result.accuracy).toBeLessThan(0.9);
    expect(result.bins.floor).toBeDefined();
  });

  it("sorts correctly on servos 5 % slower than configured thanks to the default travel margin", async () => {
    // The rig's horns move at 0.21 s per 60°; the configuration says 0.2 (the default).
    const slowRig = (hardware: Record<string, unknown> = {}) =>
      resolveConfig({
        IoTHub: { SendTelemetry: false },
        EmulatedRig: { Enabled: true, ServoSecondsPer60Deg: 0.21 },
        Hardware: hardware,
      });
    const withMargin = slowRig();
    expect(withMargin.hardware.travelMarginPercent).toBe(10);
    expect(withMargin.hardware.pick.secondsPer60Deg).toBe(0.2);
    const sorted = await runEmulatedSort({ skittles: 60, seed: 3, config: withMargin });
    expect(sorted).toMatchObject({ sorted: 60, correct: 60, misplaced: 0, accuracy: 1 });

    // Without the margin the arm turns back from the hopper before it gets there: nothing is picked.
    const noMargin = await runEmulatedSort({
      skittles: 60,
      seed: 3,
      config: slowRig({ TravelMarginPercent: 0 }),
    });
    expect(noMargin.correct).toBe(0);
    expect(noMargin.stopReason).toBe("hopper-empty");

    // On servos as fast as configured, the margin costs time, not accuracy.
    const exact = { IoTHub: { SendTelemetry: false }, EmulatedRig: { Enabled: true } };
    const tight = await runEmulatedSort({
      skittles: 60,
      seed: 3,
      config: resolveConfig({ ...exact, Hardware: { TravelMarginPercent: 0 } }),
    });
    const margined = await runEmulatedSort({ skittles: 60, seed: 3, config: resolveConfig(exact) });
    expect(tight.accuracy).toBe(1);
    expect(margined.accuracy).toBe(1);
    expect(margined.skittlesPerMinute).toBeLessThan(tight.skittlesPerMinute);
  });

  it("is deterministic for a seed and sorts given hopper contents", async () => {
    const options = { items: ["red", "none", "orange", "red", "yellow"] as const, seed: 7 };
    const first = await runEmulatedSort(options);
    expect(await runEmulatedSort(options)).toEqual(first);
    // Empty picks: the gap, then three at the end that tell the loop the hopper is empty.
    expect(first).toMatchObject({ fed: 5, sorted: 4, accuracy: 1, emptyPicks: 4 });
    expect(first.bins).toEqual({ Red: { red: 2 }, Orange: { orange: 1 }, Yellow: { yellow: 1 } });
  });

  it("refuses invalid fixed sleeps and a configuration without the emulated rig", async () => {
    const invalid = await runEmulatedSort({
      skittles: 5,
      timing: { ...ORIGINAL_FIXED_SLEEPS, chuteMs: -1, dropMs: Number.NaN },
    }).catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(ConfigError);
    expect((invalid as ConfigError).code).toBe("CONFIG_INVALID");
    expect((invalid as ConfigError).problems.map((problem) => problem.path)).toEqual([
      "timing.chuteMs",
      "timing.dropMs",
    ]);

    const real = resolveConfig({ IoTHub: { SendTelemetry: false } });
    await expect(runEmulatedSort({ config: real })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      problems: [expect.objectContaining({ path: "EmulatedRig.Enabled" })],
    });
  });
});
