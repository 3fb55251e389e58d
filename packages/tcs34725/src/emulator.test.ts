import { FakeI2cBus } from "@skittlesorter/i2c/testing";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { lightForCounts, Tcs34725Emulator } from "./testing.ts";

describe("Tcs34725Emulator", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(options: ConstructorParameters<typeof Tcs34725Emulator>[0] = {}) {
    const chip = new Tcs34725Emulator(options);
    const bus = new FakeI2cBus().attach(0x29, chip);
    return { chip, bus };
  }

  async function enable(bus: FakeI2cBus, atime = 0xc0, control = 0x02): Promise<void> {
    await bus.writeByte(0x29, 0x81, atime);
    await bus.writeByte(0x29, 0x8f, control);
    await bus.writeByte(0x29, 0x80, 0x01);
    await vi.advanceTimersByTimeAsync(3);
    await bus.writeByte(0x29, 0x80, 0x03);
  }

  it("has the datasheet reset values and the configured ID", async () => {
    const { bus } = setup({ id: 0x4d });
    const { buffer } = await bus.readI2cBlock(0x29, 0xa0, 0x14, Buffer.alloc(0x14));
    expect(buffer[0x00]).toBe(0x00);
    expect(buffer[0x01]).toBe(0xff);
    expect(buffer[0x03]).toBe(0xff);
    expect(buffer[0x12]).toBe(0x4d);
    expect(buffer[0x13]).toBe(0x00);
  });

  it("sets AVALID only after one (256 − ATIME) × 2.4 ms integration on its clock", async () => {
    const { chip, bus } = setup();
    await enable(bus, 0xf6); // 10 cycles = 24 ms
    chip.present({ clear: 1000, red: 500, green: 300, blue: 200 });
    await vi.advanceTimersByTimeAsync(23.9);
    expect(await bus.readByte(0x29, 0x93)).toBe(0x00);
    await vi.advanceTimersByTimeAsync(0.1);
    expect(await bus.readByte(0x29, 0x93)).toBe(0x01);
    expect(await bus.readWord(0x29, 0xb4)).toBe(1000);
  });

  it("integrates the light actually present during the cycle, scaled by gain and capped at full scale", async () => {
    const { chip, bus } = setup({ light: { clear: 10, red: 5, green: 3, blue: 2 } });
    await enable(bus, 0xf6, 0x00); // 24 ms, 1×
    await vi.advanceTimersByTimeAsync(12);
    chip.setLight({ clear: 30, red: 5, green: 3, blue: 2 });
    await vi.advanceTimersByTimeAsync(12);
    expect(await bus.readWord(0x29, 0xb4)).toBe(10 * 12 + 30 * 12);
    await bus.writeByte(0x29, 0x8f, 0x03); // 60×: 30 × 24 × 60 = 43200 > 10 × 1024
    await vi.advanceTimersByTimeAsync(24);
    expect(await bus.readWord(0x29, 0xb4)).toBe(10240);
  });

  it("reads with auto-increment (TYPE 01) or repeatedly from one register (TYPE 00)", async () => {
    const { chip, bus } = setup();
    await enable(bus);
    chip.present({ clear: 0x1234, red: 0x5678, green: 0x9abc, blue: 0x0def });
    await vi.advanceTimersByTimeAsync(154);
    await bus.i2cWrite(0x29, 1, Buffer.of(0x94));
    const repeated = Buffer.alloc(3);
    await bus.i2cRead(0x29, 3, repeated);
    expect([...repeated]).toEqual([0x34, 0x34, 0x34]);
    await bus.i2cWrite(0x29, 1, Buffer.of(0xb4));
    const incremented = Buffer.alloc(8);
    await bus.i2cRead(0x29, 8, incremented);
    expect([...incremented]).toEqual([0x34, 0x12, 0x78, 0x56, 0xbc, 0x9a, 0xef, 0x0d]);
  });

  it("writes a threshold block with auto-increment, and the special function 0xE6 clears AINT", async () => {
    const { chip, bus } = setup();
    await bus.writeI2cBlock(0x29, 0xa4, 4, Buffer.of(0x00, 0x01, 0x00, 0x02));
    expect([0x04, 0x05, 0x06, 0x07].map((r) => chip.register(r))).toEqual([0x00, 0x01, 0x00, 0x02]);
    await bus.writeByte(0x29, 0x81, 0xf6);
    await bus.writeByte(0x29, 0x80, 0x01);
    await vi.advanceTimersByTimeAsync(3);
    await bus.writeByte(0x29, 0x80, 0x13); // PON | AEN | AIEN
    chip.present({ clear: 5000, red: 1, green: 1, blue: 1 });
    await vi.advanceTimersByTimeAsync(24);
    expect(await bus.readByte(0x29, 0x93)).toBe(0x11);
    await bus.sendByte(0x29, 0xe6);
    expect(await bus.readByte(0x29, 0x93)).toBe(0x01);
  });

  it("fails a command byte without the CMD bit and records protocol violations", async () => {
    const { chip, bus } = setup();
    await expect(bus.writeByte(0x29, 0x00, 0x01)).rejects.toMatchObject({
      code: "I2C_IO_ERROR",
      message: expect.stringContaining("CMD bit"),
    });
    await expect(bus.sendByte(0x29, 0xc0)).rejects.toMatchObject({ code: "I2C_IO_ERROR" });
    await bus.writeByte(0x29, 0x92, 0x99);
    await bus.writeByte(0x29, 0x80, 0x03); // PON|AEN at once: no 2.4 ms warm-up
    expect(chip.violations).toEqual([
      "command byte 0x00 lacks the CMD bit (0x80); the TCS34725 ignores it",
      "command byte 0xc0 uses the reserved TYPE 10",
      "write of 0x99 to read-only register 0x12",
      "RGBC enabled 0.0 ms after PON; the datasheet requires at least 2.4 ms",
    ]);
    expect(chip.register(0x12)).toBe(0x44);
  });

  it("clears AVALID when AEN is cleared and restarts timing when it is set again", async () => {
    const { bus } = setup();
    await enable(bus, 0xf6);
    await vi.advanceTimersByTimeAsync(30);
    expect(await bus.readByte(0x29, 0x93)).toBe(0x01);
    await bus.writeByte(0x29, 0x80, 0x01);
    expect(await bus.readByte(0x29, 0x93)).toBe(0x00);
    await bus.writeByte(0x29, 0x80, 0x03);
    await vi.advanceTimersByTimeAsync(20);
    expect(await bus.readByte(0x29, 0x93)).toBe(0x00);
    await vi.advanceTimersByTimeAsync(4);
    expect(await bus.readByte(0x29, 0x93)).toBe(0x01);
  });

  it("adds seeded per-integration noise when asked", async () => {
    let state = 7;
    const random = () => {
      state = (state * 16807) % 2147483647;
      return state / 2147483647;
    };
    const { chip, bus } = setup({ noise: { fraction: 0.02, random } });
    await enable(bus);
    chip.present({ clear: 20000, red: 10000, green: 6000, blue: 4000 });
    const values: number[] = [];
    for (let cycle = 0; cycle < 5; cycle += 1) {
      await vi.advanceTimersByTimeAsync(154);
      values.push(await bus.readWord(0x29, 0xb4));
    }
    expect(new Set(values).size).toBe(5);
    for (const value of values) expect(Math.abs(value - 20000)).toBeLessThan(20000 * 0.1);
  });

  it("integrates a time-dependent light source, e.g. a skittle arriving mid-integration", async () => {
    const { chip, bus } = setup();
    await enable(bus, 0xf6, 0x00); // 24 ms from t = 3, 1×
    chip.setLightSource((atMs) => ({ clear: atMs < 15 ? 0 : 100, red: 0, green: 0, blue: 0 }));
    await vi.advanceTimersByTimeAsync(24);
    expect(await bus.readWord(0x29, 0xb4)).toBe(100 * 12);
    chip.setLight({ clear: 1, red: 0, green: 0, blue: 0 });
    await vi.advanceTimersByTimeAsync(24);
    expect(await bus.readWord(0x29, 0xb4)).toBe(24);
  });

  it("lightForCounts inverts the integration", () => {
    expect(
      lightForCounts({ clear: 1536, red: 768, green: 0, blue: 153.6 }, { integrationTimeMs: 153.6, gain: 1 }),
    ).toEqual({ clear: 10, red: 5, green: 0, blue: 1 });
  });
});
