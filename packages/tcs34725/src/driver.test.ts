import { FakeI2cBus, type I2cTransaction } from "@skittlesorter/i2c/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { dn40, openTcs34725, type Tcs34725Options } from "./index.ts";
import { Tcs34725Emulator } from "./testing.ts";

const RED_SKITTLE = { clear: 25000, red: 13000, green: 7000, blue: 5000 };
const GREEN_SKITTLE = { clear: 24000, red: 10000, green: 9000, blue: 4500 };

function traffic(transactions: readonly I2cTransaction[]): Array<[string, number | undefined, number[]]> {
  return transactions.map((t) => [t.operation, t.command, t.bytes]);
}

async function settle<T>(pending: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync();
  return pending;
}

async function rig(options: Tcs34725Options = {}, id?: number) {
  const bus = new FakeI2cBus();
  const chip = new Tcs34725Emulator({ id });
  bus.attach(0x29, chip);
  const sensor = await settle(openTcs34725(bus, options));
  return { bus, chip, sensor };
}

describe("openTcs34725", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("checks the ID, sets ATIME and gain, then PON, waits ≥ 2.4 ms, then PON|AEN", async () => {
    const { bus, chip, sensor } = await rig();
    expect(traffic(bus.transactions)).toEqual([
      ["readByte", 0x92, [0x44]],
      ["writeByte", 0x81, [0xc0]],
      ["writeByte", 0x8f, [0x02]],
      ["writeByte", 0x80, [0x01]],
      ["writeByte", 0x80, [0x03]],
    ]);
    const [, , , pon, aen] = bus.transactions;
    expect((aen?.atMs ?? 0) - (pon?.atMs ?? 0)).toBeGreaterThanOrEqual(2.4);
    expect(bus.transactions.every((t) => ((t.command ?? 0) & 0x80) === 0x80)).toBe(true);
    expect(chip.violations).toEqual([]);
    expect(sensor).toMatchObject({ id: 0x44, integrationTimeMs: 153.6, gain: 16, address: 0x29 });
  });

  it("turns integration time in ms into ATIME and gain into CONTROL", async () => {
    const { bus, sensor } = await rig({ integrationTimeMs: 100, gain: 4 });
    expect(traffic(bus.transactions).slice(1, 3)).toEqual([
      ["writeByte", 0x81, [0xd6]],
      ["writeByte", 0x8f, [0x01]],
    ]);
    expect(sensor.integrationTimeMs).toBe(100.8);
    bus.clearTransactions();
    await settle(sensor.configure({ integrationTimeMs: 614.4, gain: 60 }));
    expect(traffic(bus.transactions)).toEqual([
      ["writeByte", 0x81, [0x00]],
      ["writeByte", 0x8f, [0x03]],
    ]);
    expect(sensor).toMatchObject({ integrationTimeMs: 614.4, gain: 60 });
  });

  it.each([0x4d, 0x10])("accepts the TCS3472x ID %s", async (id) => {
    const { sensor } = await rig({}, id);
    expect(sensor.id).toBe(id);
  });

  it("refuses a device with another ID, naming it", async () => {
    const bus = new FakeI2cBus().attach(0x29, new Tcs34725Emulator({ id: 0x60 }));
    await expect(openTcs34725(bus)).rejects.toMatchObject({
      code: "TCS34725_UNEXPECTED_ID",
      id: 0x60,
      message: expect.stringContaining("0x60"),
    });
    expect(bus.transactions).toHaveLength(1);
  });

  it("reports a missing sensor as TCS34725_NOT_FOUND with the wiring fix", async () => {
    const error = await openTcs34725(new FakeI2cBus()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "TCS34725_NOT_FOUND", address: 0x29 });
    expect((error as Error).message).toMatch(/i2cdetect -y 1/);
    expect((error as Error).cause).toMatchObject({ code: "I2C_NACK" });
  });

  it.each([
    [{ integrationTimeMs: 1000 }, /integrationTimeMs/],
    [{ integrationTimeMs: 1 }, /integrationTimeMs/],
    [{ gain: 8 as 4 }, /gain must be 1, 4, 16 or 60/],
  ])("rejects bad settings %o before touching the bus", async (options, message) => {
    const bus = new FakeI2cBus().attach(0x29, new Tcs34725Emulator());
    await expect(openTcs34725(bus, options)).rejects.toMatchObject({
      code: "TCS34725_INVALID_OPTION",
      message: expect.stringMatching(message),
    });
    expect(bus.transactions).toEqual([]);
  });
});

describe("Tcs34725.read", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("restarts the integration, waits for AVALID, then reads one 8-byte auto-increment block", async () => {
    const { bus, chip, sensor } = await rig();
    chip.present(RED_SKITTLE);
    bus.clearTransactions();
    const reading = await settle(sensor.read());
    expect(traffic(bus.transactions)).toEqual([
      ["writeByte", 0x80, [0x01]],
      ["writeByte", 0x80, [0x03]],
      ["readByte", 0x93, [0x01]],
      ["readI2cBlock", 0xb4, [0xa8, 0x61, 0xc8, 0x32, 0x58, 0x1b, 0x88, 0x13]],
    ]);
    const [, restart, status] = bus.transactions;
    expect((status?.atMs ?? 0) - (restart?.atMs ?? 0)).toBeGreaterThanOrEqual(153.6);
    expect(reading).toMatchObject({ ...RED_SKITTLE, integrationTimeMs: 153.6, gain: 16, saturated: false });
    expect(chip.violations).toEqual([]);
  });

  it("returns a fresh reading, not one integrated before the skittle arrived", async () => {
    const { chip, sensor } = await rig();
    chip.present(RED_SKITTLE);
    await vi.advanceTimersByTimeAsync(1000);
    chip.present(GREEN_SKITTLE);
    const stale = await settle(sensor.read({ freshness: "latest" }));
    expect(stale).toMatchObject(RED_SKITTLE);
    const fresh = await settle(sensor.read());
    expect(fresh).toMatchObject(GREEN_SKITTLE);
  });

  it("polls STATUS until AVALID when the first poll comes too early", async () => {
    const { bus, chip, sensor } = await rig({ pollIntervalMs: 1 });
    chip.present(RED_SKITTLE);
    bus.clearTransactions();
    // "latest" right after open: the first integration is still running, so it must poll.
    const reading = await settle(sensor.read({ freshness: "latest" }));
    const polls = bus.transactions.filter((t) => t.command === 0x93);
    expect(polls.length).toBeGreaterThan(100);
    expect(polls.at(-1)?.bytes).toEqual([0x01]);
    expect(polls.slice(0, -1).every((t) => t.bytes[0] === 0x00)).toBe(true);
    expect(reading).toMatchObject(RED_SKITTLE);
  });

  it("flags saturation at 75 % of full scale below 64 cycles and at 65535 above", async () => {
    const { chip, sensor } = await rig({ integrationTimeMs: 24 });
    chip.present({ clear: 7680, red: 4000, green: 2000, blue: 1000 });
    const clipped = await settle(sensor.read());
    expect(clipped).toMatchObject({ clear: 7680, saturated: true });
    chip.present({ clear: 7679, red: 4000, green: 2000, blue: 1000 });
    expect(await settle(sensor.read())).toMatchObject({ saturated: false });
    await settle(sensor.configure({ integrationTimeMs: 153.6 }));
    chip.present({ clear: 70000, red: 30000, green: 20000, blue: 10000 });
    const full = await settle(sensor.read());
    expect(full).toMatchObject({ clear: 65535, saturated: true });
    expect(dn40(full)).toBeUndefined();
  });

  it("times out when AVALID never comes", async () => {
    const bus = new FakeI2cBus();
    const chip = new Tcs34725Emulator();
    bus.attach(0x29, {
      write: (bytes) => chip.write(bytes),
      read: (length) => (bus.transactions.length > 5 ? new Uint8Array(length) : chip.read(length)),
    });
    const sensor = await settle(openTcs34725(bus, { readTimeoutMs: 50 }));
    const outcome = settle(sensor.read().catch((error: unknown) => error));
    expect(await outcome).toMatchObject({
      code: "TCS34725_TIMEOUT",
      message: expect.stringContaining("AVALID"),
    });
  });

  it("passes bus faults through as I2cError", async () => {
    const { bus, sensor } = await rig();
    bus.injectFault({ code: "EREMOTEIO", operations: ["readI2cBlock"] });
    await expect(settle(sensor.read())).rejects.toMatchObject({ code: "I2C_NACK", address: 0x29 });
    await expect(settle(sensor.read())).resolves.toMatchObject({ saturated: false });
  });

  it("rejects with the signal's reason when aborted during the integration", async () => {
    const { sensor } = await rig();
    const controller = new AbortController();
    const pending = sensor.read({ signal: controller.signal });
    await vi.advanceTimersByTimeAsync(50);
    const reason = new Error("shutdown");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it("serialises concurrent reads", async () => {
    const { bus, chip, sensor } = await rig();
    chip.present(RED_SKITTLE);
    bus.clearTransactions();
    const both = settle(Promise.all([sensor.read(), sensor.read()]));
    const [first, second] = await both;
    expect(first).toMatchObject(RED_SKITTLE);
    expect(second).toMatchObject(RED_SKITTLE);
    expect(bus.transactions.map((t) => t.command)).toEqual([0x80, 0x80, 0x93, 0xb4, 0x80, 0x80, 0x93, 0xb4]);
  });

  it("close puts the sensor to sleep once, and later reads fail with TCS34725_CLOSED", async () => {
    const { bus, chip, sensor } = await rig();
    bus.clearTransactions();
    await Promise.all([sensor.close(), sensor.close()]);
    await sensor.close();
    expect(traffic(bus.transactions)).toEqual([["writeByte", 0x80, [0x00]]]);
    expect(chip.register(0x00)).toBe(0);
    await expect(sensor.read()).rejects.toMatchObject({ code: "TCS34725_CLOSED" });
  });
});

describe("dn40", () => {
  it("computes lux and CCT as ams DN40 does", () => {
    const result = dn40({
      clear: 2000,
      red: 1000,
      green: 800,
      blue: 600,
      integrationTimeMs: 153.6,
      gain: 16,
    });
    expect(result?.ir).toBe(200);
    expect(result?.colorTemperatureK).toBeCloseTo(3296, 6);
    expect(result?.lux).toBeCloseTo(531.2 / ((153.6 * 16) / 310), 6);
  });

  it("applies glass attenuation and skips IR when R+G+B ≤ C", () => {
    const reading = {
      clear: 3000,
      red: 1000,
      green: 800,
      blue: 600,
      integrationTimeMs: 153.6,
      gain: 16,
    } as const;
    const open = dn40(reading);
    const behindGlass = dn40(reading, { glassAttenuation: 2 });
    expect(open?.ir).toBe(0);
    expect(behindGlass?.lux).toBeCloseTo((open?.lux ?? 0) * 2, 6);
  });

  it("gives up when no red is left after IR removal", () => {
    expect(
      dn40({ clear: 100, red: 10, green: 500, blue: 500, integrationTimeMs: 153.6, gain: 1 }),
    ).toBeUndefined();
  });
});
