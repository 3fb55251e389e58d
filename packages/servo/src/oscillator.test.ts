import { FakeI2cBus } from "@skittlesorter/i2c/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type EdgeTimer,
  measurePca9685Oscillator,
  openPca9685,
  oscillatorFromPeriod,
  oscillatorMeasurement,
} from "./index.ts";
import { Pca9685Emulator } from "./testing.ts";

async function settle<T>(pending: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync();
  return pending;
}

/** A seeded uniform random source (mulberry32), so jittered edges are reproducible. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("PCA9685 oscillator calibration", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("turns a measured period into the oscillator at that prescale", () => {
    // 25 MHz at prescale 121: 50.03 Hz, i.e. 19988.48 µs.
    expect(oscillatorFromPeriod(19_988.48, 121)).toBeCloseTo(25_000_000, 0);
    expect(oscillatorMeasurement(18_518.5, 121)).toMatchObject({ prescale: 121 });
    expect(oscillatorMeasurement(18_518.5, 121).offsetPercent).toBeCloseTo(7.93, 1);
    expect(() => oscillatorMeasurement(20, 121)).toThrow(/outside the 20–30 MHz/);
    expect(() => oscillatorFromPeriod(-1, 121)).toThrow(/positive number of µs/);
  });

  it.each([23_400_000, 26_900_000])(
    "measures an emulated chip whose oscillator runs at %i Hz through a looped-back channel, then drives it to within a tick",
    async (realHz) => {
      const chip = new Pca9685Emulator({ oscillatorHz: realHz });
      const bus = new FakeI2cBus().attach(0x40, chip);
      const naive = await settle(openPca9685(bus, { releaseOnClose: false }));
      const timer = chip.edgeTimer(15, { jitterUs: 40, random: seeded(7) });
      const result = await measurePca9685Oscillator(naive, 15, timer, { periods: 200 });
      expect(Math.abs(result.oscillatorHz - realHz) / realHz).toBeLessThan(0.0005);
      expect(result).toMatchObject({ prescale: 121, periods: 200 });
      expect(chip.pulseWidthUs(15)).toBeUndefined(); // the test signal is switched off again
      expect(chip.violations).toEqual([]);

      chip.reset();
      const calibrated = await settle(openPca9685(bus, { oscillatorHz: result.oscillatorHz }));
      await calibrated.setPulseWidth(0, 1500);
      expect(Math.abs((chip.pulseWidthUs(0) ?? 0) - 1500)).toBeLessThanOrEqual(calibrated.resolutionUs);
      expect(Math.abs(chip.frequencyHz - 50)).toBeLessThan(0.25);
    },
  );

  it("fails with SERVO_CALIBRATION_FAILED when no edges arrive", async () => {
    const chip = new Pca9685Emulator();
    const bus = new FakeI2cBus().attach(0x40, chip);
    const driver = await settle(openPca9685(bus));
    const silent: EdgeTimer = {
      risingEdgesUs: () => Promise.reject(new Error("no edge within 1000 ms on gpiochip0 line 17")),
    };
    await expect(measurePca9685Oscillator(driver, 3, silent)).rejects.toMatchObject({
      code: "SERVO_CALIBRATION_FAILED",
      channel: 3,
      message: expect.stringContaining("no edge within 1000 ms"),
    });
    expect(chip.pulseWidthUs(3)).toBeUndefined();
    const short: EdgeTimer = { risingEdgesUs: async () => [5] };
    await expect(measurePca9685Oscillator(driver, 3, short, { periods: 4 })).rejects.toThrow(
      /returned 1 increasing timestamps, not the 5/,
    );
  });

  it("refuses an impossible oscillatorHz option", async () => {
    const bus = new FakeI2cBus().attach(0x40, new Pca9685Emulator());
    await expect(openPca9685(bus, { oscillatorHz: Number.NaN })).rejects.toMatchObject({
      code: "SERVO_INVALID_OPTION",
    });
  });
});
