import { FakeI2cBus } from "@skittlesorter/i2c/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openTcs34725, type Tcs34725Options } from "./index.ts";
import { Tcs34725Emulator } from "./testing.ts";

async function settle<T>(pending: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync();
  return pending;
}

async function rig(options: Tcs34725Options = {}) {
  const chip = new Tcs34725Emulator();
  const bus = new FakeI2cBus().attach(0x29, chip);
  const sensor = await settle(openTcs34725(bus, options));
  bus.clearTransactions();
  return { bus, chip, sensor };
}

/** Light as counts per ms at 1× gain; a red skittle's proportions. */
const light = (clear: number) => ({ clear, red: clear * 0.52, green: clear * 0.28, blue: clear * 0.2 });
const settingWrites = (bus: FakeI2cBus) =>
  bus.transactions.filter((t) => t.operation === "writeByte" && (t.command === 0x81 || t.command === 0x8f));

describe("auto-ranging", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is off by default: a bright target reads saturated at the configured settings", async () => {
    const { chip, sensor, bus } = await rig();
    chip.setLight(light(40));
    const reading = await settle(sensor.read());
    expect(reading).toMatchObject({ clear: 65535, saturated: true, gain: 16, integrationTimeMs: 153.6 });
    expect(reading.normalized.clear).toBe(65535);
    expect(settingWrites(bus)).toEqual([]);
  });

  it("steps the gain down when clear nears saturation, and reports normalised counts at the opening settings", async () => {
    const { chip, sensor } = await rig({ autoRange: true });
    chip.setLight(light(40)); // 98 304 counts at 16× and 153.6 ms: far beyond full scale
    const reading = await settle(sensor.read());
    expect(reading).toMatchObject({ gain: 4, integrationTimeMs: 153.6, saturated: false, clear: 24576 });
    expect(reading.normalized.clear).toBeCloseTo(98_304, 6);
    expect(reading.normalized.red / reading.normalized.clear).toBeCloseTo(0.52, 3);
    expect(sensor.gain).toBe(4); // kept for the next read
    expect(chip.violations).toEqual([]);
  });

  it("steps up in the dark, through longer integration at 60×, without oscillating afterwards", async () => {
    const { chip, sensor, bus } = await rig({ autoRange: true });
    chip.setLight(light(0.05)); // 123 counts at 16× and 153.6 ms
    const reading = await settle(sensor.read());
    expect(reading).toMatchObject({ gain: 60, integrationTimeMs: 614.4, saturated: false, clear: 1843 });
    expect(reading.normalized.clear).toBeCloseTo(122.9, 0);
    bus.clearTransactions();
    const again = await settle(sensor.read());
    expect(again).toMatchObject({ gain: 60, integrationTimeMs: 614.4 });
    expect(settingWrites(bus)).toEqual([]);
  });

  it("leaves readings in range alone: same counts and bus traffic as without auto-ranging", async () => {
    const plain = await rig();
    const ranging = await rig({ autoRange: true });
    for (const { chip } of [plain, ranging])
      chip.present({ clear: 25000, red: 13000, green: 7000, blue: 5000 });
    const a = await settle(plain.sensor.read());
    const b = await settle(ranging.sensor.read());
    expect({ ...b, timestampMs: 0 }).toEqual({ ...a, timestampMs: 0 });
    expect(b.normalized).toEqual({ clear: 25000, red: 13000, green: 7000, blue: 5000 });
    expect(ranging.bus.transactions.map((t) => [t.operation, t.command, t.bytes])).toEqual(
      plain.bus.transactions.map((t) => [t.operation, t.command, t.bytes]),
    );
  });

  it("flags a reading saturated when even the least sensitive setting saturates (75 % rule below 64 cycles)", async () => {
    const { chip, sensor } = await rig({ autoRange: true });
    chip.setLight(light(1000)); // 2 400 counts in 2.4 ms at 1×, above the 768-count threshold
    const reading = await settle(sensor.read());
    expect(reading).toMatchObject({ gain: 1, integrationTimeMs: 2.4, saturated: true, clear: 1024 });
  });

  it("comes back up when the light dims again, and keeps colour ratios across ranges", async () => {
    const { chip, sensor } = await rig({ autoRange: true });
    chip.setLight(light(40));
    const bright = await settle(sensor.read());
    chip.setLight(light(0.4));
    const dim = await settle(sensor.read());
    expect(dim.gain).toBeGreaterThan(bright.gain);
    expect(dim.normalized.clear / bright.normalized.clear).toBeCloseTo(0.01, 3);
    const ratio = (r: typeof dim) => r.normalized.green / r.normalized.clear;
    expect(ratio(dim)).toBeCloseTo(ratio(bright), 2);
  });

  it("takes custom steps and thresholds, and refuses impossible ones", async () => {
    const { chip, sensor } = await rig({
      autoRange: {
        steps: [
          { integrationTimeMs: 153.6, gain: 16 },
          { integrationTimeMs: 100, gain: 1 },
        ],
      },
    });
    chip.setLight(light(40));
    expect(await settle(sensor.read())).toMatchObject({
      gain: 1,
      integrationTimeMs: 100.8,
      saturated: false,
    });
    const bus = new FakeI2cBus().attach(0x29, new Tcs34725Emulator());
    await expect(
      openTcs34725(bus, { autoRange: { highFraction: 0.1, lowFraction: 0.5 } }),
    ).rejects.toMatchObject({
      code: "TCS34725_INVALID_OPTION",
    });
    await expect(openTcs34725(bus, { autoRange: { steps: [] } })).rejects.toThrow(/steps is empty/);
  });
});
