import { systemClock } from "@skittlesorter/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isI2cError } from "./index.ts";
import { FakeI2cBus, i2cBusConformance, MemoryDevice } from "./testing.ts";

describe("FakeI2cBus conformance", () => {
  for (const check of i2cBusConformance(async () => {
    const bus = new FakeI2cBus().attach(0x50, new MemoryDevice());
    return { bus, memoryAddress: 0x50, absentAddress: 0x51 };
  })) {
    it(check.name, () => check.run());
  }
});

describe("FakeI2cBus", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("records each transaction with its command, bytes and time", async () => {
    let now = 1000;
    const bus = new FakeI2cBus({ clock: { ...systemClock, now: () => now } });
    bus.attach(0x50, new MemoryDevice());
    await bus.writeByte(0x50, 0x01, 0x7f);
    now = 1005;
    await bus.readI2cBlock(0x50, 0x00, 3, Buffer.alloc(3));
    await bus.sendByte(0x50, 0x01);
    await expect(bus.readByte(0x52, 0x00)).rejects.toThrow();
    expect(bus.transactions).toEqual([
      { operation: "writeByte", address: 0x50, command: 0x01, bytes: [0x7f], atMs: 1000 },
      { operation: "readI2cBlock", address: 0x50, command: 0x00, bytes: [0x00, 0x7f, 0x00], atMs: 1005 },
      { operation: "sendByte", address: 0x50, bytes: [0x01], atMs: 1005 },
      { operation: "readByte", address: 0x52, command: 0x00, bytes: [], atMs: 1005, error: "I2C_NACK" },
    ]);
    bus.clearTransactions();
    expect(bus.transactions).toEqual([]);
  });

  it("injects EREMOTEIO for a chosen address and operation, the given number of times", async () => {
    const bus = new FakeI2cBus().attach(0x50, new MemoryDevice()).attach(0x51, new MemoryDevice());
    bus.injectFault({ code: "EREMOTEIO", address: 0x50, operations: ["readByte"], times: 2 });
    await bus.writeByte(0x50, 0, 1);
    await bus.readByte(0x51, 0);
    const failure = await bus.readByte(0x50, 0).catch((error: unknown) => error);
    expect(isI2cError(failure)).toBe(true);
    expect(failure).toMatchObject({
      code: "I2C_NACK",
      address: 0x50,
      osCode: "EREMOTEIO",
      operation: "readByte",
    });
    expect((failure as Error).cause).toMatchObject({ code: "EREMOTEIO", errno: 121, syscall: "readByte" });
    await expect(bus.readByte(0x50, 0)).rejects.toMatchObject({ code: "I2C_NACK" });
    await expect(bus.readByte(0x50, 0)).resolves.toBe(1);
  });

  it("injects a hanging transfer that times out after delayMs on the bus clock", async () => {
    vi.useFakeTimers();
    const bus = new FakeI2cBus().attach(0x50, new MemoryDevice());
    bus.injectFault({ code: "ETIMEDOUT", delayMs: 25 });
    let settled = false;
    const pending = bus.readByte(0x50, 0).catch((error: unknown) => {
      settled = true;
      return error;
    });
    await vi.advanceTimersByTimeAsync(24);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toMatchObject({ code: "I2C_TIMEOUT", osCode: "ETIMEDOUT" });
  });

  it("aborts a hanging transfer with the signal's reason", async () => {
    const bus = new FakeI2cBus().attach(0x50, new MemoryDevice());
    bus.injectFault({ code: "ETIMEDOUT", delayMs: 60_000 });
    const controller = new AbortController();
    const pending = bus.readByte(0x50, 0, { signal: controller.signal });
    const reason = new Error("shutting down");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it("keeps an Infinity fault until cleared", async () => {
    const bus = new FakeI2cBus().attach(0x50, new MemoryDevice());
    bus.injectFault({ code: "EIO", times: Number.POSITIVE_INFINITY });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await expect(bus.readByte(0x50, 0)).rejects.toMatchObject({ code: "I2C_IO_ERROR", osCode: "EIO" });
    }
    bus.clearFaults();
    await expect(bus.readByte(0x50, 0)).resolves.toBe(0);
  });

  it("turns an emulator's exception into I2C_IO_ERROR with the emulator's message", async () => {
    const bus = new FakeI2cBus().attach(0x29, {
      write: () => {
        throw new Error("command byte lacks the CMD bit");
      },
      read: () => new Uint8Array(0),
    });
    await expect(bus.writeByte(0x29, 0x00, 1)).rejects.toMatchObject({
      code: "I2C_IO_ERROR",
      message: expect.stringContaining("command byte lacks the CMD bit"),
    });
  });

  it("pads short device reads with 0xFF like an idle bus", async () => {
    const bus = new FakeI2cBus().attach(0x30, { write: () => undefined, read: () => Uint8Array.of(1) });
    const { buffer } = await bus.readI2cBlock(0x30, 0, 3, Buffer.alloc(3));
    expect([...buffer]).toEqual([1, 0xff, 0xff]);
  });

  it("refuses to attach two devices at one address, and detached devices stop answering", async () => {
    const bus = new FakeI2cBus().attach(0x50, new MemoryDevice());
    expect(() => bus.attach(0x50, new MemoryDevice())).toThrow(/already attached at 0x50/);
    expect(() => bus.attach(0x80, new MemoryDevice())).toThrow(/not a 7-bit/);
    bus.detach(0x50);
    expect(bus.device(0x50)).toBeUndefined();
    await expect(bus.readByte(0x50, 0)).rejects.toMatchObject({ code: "I2C_NACK" });
  });
});
