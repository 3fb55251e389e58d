import { FakeI2cBus, type I2cTransaction } from "@skittlesorter/i2c/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createServo,
  frequencyForPrescale,
  openPca9685,
  oscillatorFromMeasurement,
  prescaleForFrequency,
} from "./index.ts";
import { Pca9685Emulator } from "./testing.ts";

function traffic(transactions: readonly I2cTransaction[]): Array<[string, number | undefined, number[]]> {
  return transactions.map((t) => [t.operation, t.command, t.bytes]);
}

async function settle<T>(pending: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync();
  return pending;
}

describe("prescale maths", () => {
  it("gives 121 for 50 Hz at 25 MHz, i.e. 50.03 Hz", () => {
    expect(prescaleForFrequency(50)).toBe(121);
    expect(frequencyForPrescale(121)).toBeCloseTo(50.03, 2);
    expect(prescaleForFrequency(60)).toBe(101);
    expect(prescaleForFrequency(1526)).toBe(3);
  });

  it("refuses frequencies the prescaler cannot reach", () => {
    expect(() => prescaleForFrequency(10)).toThrow(/cannot run at 10 Hz/);
    expect(() => prescaleForFrequency(2000)).toThrow(/SERVO|cannot run/);
  });

  it("recovers the oscillator frequency from a measured frame rate", () => {
    expect(oscillatorFromMeasurement(54, 121)).toBeCloseTo(26_984_448, 0);
  });
});

describe("openPca9685", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(options: ConstructorParameters<typeof Pca9685Emulator>[0] = {}) {
    const chip = new Pca9685Emulator(options);
    const bus = new FakeI2cBus().attach(0x40, chip);
    return { chip, bus };
  }

  it("sleeps, writes prescale 121 for 50 Hz, sets totem-pole outputs, wakes with auto-increment", async () => {
    const { chip, bus } = setup();
    const driver = await settle(openPca9685(bus));
    expect(traffic(bus.transactions)).toEqual([
      ["readByte", 0x00, [0x11]],
      ["readByte", 0xfe, [0x1e]],
      ["writeByte", 0x00, [0x11]],
      ["writeByte", 0xfe, [121]],
      ["writeByte", 0x01, [0x04]],
      ["writeByte", 0x00, [0x21]],
      ["readByte", 0x00, [0x21]],
    ]);
    const wake = bus.transactions[5];
    const check = bus.transactions[6];
    expect((check?.atMs ?? 0) - (wake?.atMs ?? 0)).toBeGreaterThanOrEqual(0.5);
    expect(chip.prescale).toBe(121);
    expect(chip.violations).toEqual([]);
    expect(driver).toMatchObject({ prescale: 121, channelCount: 16 });
    expect(driver.frequencyHz).toBeCloseTo(50.03, 2);
  });

  it("writes a channel as one 4-byte block: ON = 0, OFF = ticks", async () => {
    const { chip, bus } = setup();
    const driver = await settle(openPca9685(bus));
    bus.clearTransactions();
    await driver.setPulseWidth(6, 1500);
    await driver.setPulseWidth(7, 1000);
    await driver.release(7);
    expect(traffic(bus.transactions)).toEqual([
      ["writeI2cBlock", 0x1e, [0x00, 0x00, 0x33, 0x01]],
      ["writeI2cBlock", 0x22, [0x00, 0x00, 0xcd, 0x00]],
      ["writeI2cBlock", 0x22, [0x00, 0x00, 0x00, 0x10]],
    ]);
    expect(chip.pulseWidthUs(6)).toBeCloseTo((307 * 122) / 25, 6);
    expect(chip.pulseWidthUs(7)).toBeUndefined();
  });

  it("leaves a chip that already runs at the prescale alone, so servos do not twitch", async () => {
    const { chip, bus } = setup();
    const first = await settle(openPca9685(bus));
    await first.setPulseWidth(0, 1500);
    bus.clearTransactions();
    const changes: unknown[] = [];
    chip.onOutputChange((change) => changes.push(change));
    await settle(openPca9685(bus, { releaseOnClose: false }));
    expect(traffic(bus.transactions)).toEqual([
      ["readByte", 0x00, [0x21]],
      ["readByte", 0xfe, [121]],
    ]);
    expect(changes).toEqual([]);
  });

  it("restarts running channels after changing the prescale (SLEEP sets RESTART)", async () => {
    const { chip, bus } = setup();
    const at50 = await settle(openPca9685(bus, { releaseOnClose: false }));
    await at50.setPulseWidth(3, 1500);
    bus.clearTransactions();
    await settle(openPca9685(bus, { frequencyHz: 60 }));
    expect(traffic(bus.transactions)).toEqual([
      ["readByte", 0x00, [0x21]],
      ["readByte", 0xfe, [121]],
      ["writeByte", 0x00, [0x31]],
      ["writeByte", 0xfe, [101]],
      ["writeByte", 0x01, [0x04]],
      ["writeByte", 0x00, [0x21]],
      ["readByte", 0x00, [0xa1]],
      ["writeByte", 0x00, [0xa1]],
    ]);
    expect(chip.violations).toEqual([]);
    expect(chip.pulseWidthUs(3)).toBeCloseTo((307 * 102) / 25, 6);
  });

  it("sleep() stops the outputs and wake() restarts them after ≥ 500 µs", async () => {
    const { chip, bus } = setup();
    const driver = await settle(openPca9685(bus));
    await driver.setPulseWidth(0, 2000);
    await driver.sleep();
    expect(chip.sleeping).toBe(true);
    expect(chip.pulseWidthUs(0)).toBeUndefined();
    await settle(driver.wake());
    expect(chip.pulseWidthUs(0)).toBeCloseTo((410 * 122) / 25, 6);
    expect(chip.violations).toEqual([]);
  });

  it("corrects pulse widths with a calibrated oscillator", async () => {
    const { chip, bus } = setup({ oscillatorHz: 27_000_000 });
    const naive = await settle(openPca9685(bus, { releaseOnClose: false }));
    await naive.setPulseWidth(0, 1500);
    expect(chip.pulseWidthUs(0)).toBeCloseTo(1387, 0);
    const measured = chip.frequencyHz;
    const oscillatorHz = oscillatorFromMeasurement(measured, 121);
    expect(oscillatorHz).toBeCloseTo(27_000_000, 0);
    chip.reset();
    const calibrated = await settle(openPca9685(bus, { oscillatorHz }));
    expect(calibrated.prescale).toBe(131);
    await calibrated.setPulseWidth(0, 1500);
    expect(Math.abs((chip.pulseWidthUs(0) ?? 0) - 1500)).toBeLessThanOrEqual(calibrated.resolutionUs / 2);
  });

  it("moves a servo to an angle the emulator reports back as that angle", async () => {
    const { chip, bus } = setup();
    const driver = await settle(openPca9685(bus));
    const ramp = createServo(driver, 7, { minPulseUs: 750, maxPulseUs: 2250, rangeDeg: 180 });
    await settle(ramp.moveTo(120));
    const pulse = chip.pulseWidthUs(7) ?? 0;
    expect(((pulse - 750) / 1500) * 180).toBeCloseTo(120, 0);
  });

  it("reports a missing board as SERVO_DEVICE_NOT_FOUND with the i2cdetect hint", async () => {
    const error = await openPca9685(new FakeI2cBus()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "SERVO_DEVICE_NOT_FOUND", cause: { code: "I2C_NACK" } });
    expect((error as Error).message).toMatch(/i2cdetect -y 1/);
  });

  it("uses the configured address", async () => {
    const chip = new Pca9685Emulator();
    const bus = new FakeI2cBus().attach(0x41, chip);
    const driver = await settle(openPca9685(bus, { address: 0x41 }));
    await driver.setPulseWidth(15, 1500);
    expect(bus.transactions.at(-1)).toMatchObject({ address: 0x41, command: 0x42 });
    expect(chip.pulseWidthUs(15)).toBeDefined();
  });
});

describe("Pca9685Emulator", () => {
  it("auto-increments only with MODE1.AI, wrapping LED15_OFF_H to MODE1", async () => {
    const chip = new Pca9685Emulator();
    const bus = new FakeI2cBus().attach(0x40, chip);
    await bus.writeI2cBlock(0x40, 0x06, 4, Buffer.of(0x00, 0x00, 0x33, 0x01));
    // Without AI all four bytes land in LED0_ON_L.
    expect([0x06, 0x07, 0x08, 0x09].map((r) => chip.register(r))).toEqual([0x01, 0x00, 0x00, 0x10]);
    await bus.writeByte(0x40, 0x00, 0x20);
    await bus.writeI2cBlock(0x40, 0x44, 3, Buffer.of(0x12, 0x00, 0x21));
    expect([chip.register(0x44), chip.register(0x45), chip.register(0x00)]).toEqual([0x12, 0x00, 0x21]);
  });

  it("blocks PRE_SCALE writes while awake and fans ALL_LED writes out", async () => {
    const chip = new Pca9685Emulator();
    const bus = new FakeI2cBus().attach(0x40, chip);
    await bus.writeByte(0x40, 0x00, 0x20);
    await bus.writeByte(0x40, 0xfe, 121);
    expect(chip.prescale).toBe(0x1e);
    expect(chip.violations).toEqual([
      "PRE_SCALE write of 0x79 ignored: the chip is awake (set MODE1.SLEEP first)",
    ]);
    await bus.writeI2cBlock(0x40, 0xfa, 4, Buffer.of(0, 0, 0x00, 0x01));
    expect(chip.pulseWidthUs(0)).toBeCloseTo((256 * 31) / 25, 6);
    expect(chip.pulseWidthUs(15)).toBeCloseTo((256 * 31) / 25, 6);
    expect(await bus.readByte(0x40, 0xfc)).toBe(0);
  });

  it("flags RESTART written too soon after waking", async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const chip = new Pca9685Emulator();
      const bus = new FakeI2cBus().attach(0x40, chip);
      await bus.writeByte(0x40, 0x00, 0x20);
      await bus.writeI2cBlock(0x40, 0x06, 4, Buffer.of(0, 0, 0x33, 0x01));
      await bus.writeByte(0x40, 0x00, 0x30);
      expect(chip.register(0x00) & 0x80).toBe(0x80);
      await bus.writeByte(0x40, 0x00, 0x20);
      expect(chip.pulseWidthUs(0)).toBeUndefined();
      await bus.writeByte(0x40, 0x00, 0xa0);
      expect(chip.violations[0]).toMatch(/RESTART written 0.00 ms after waking/);
      expect(chip.pulseWidthUs(0)).toBeDefined();
    } finally {
      vi.useRealTimers();
    }
  });
});
