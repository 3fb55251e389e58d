import { existsSync } from "node:fs";
import type { PromisifiedBus } from "i2c-bus";
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { type I2cBus, I2cError, openI2cBus } from "./index.ts";
import { fakeI2cBusModule } from "./native-shim.test-support.ts";
import { createOsError, FakeI2cBus, i2cBusConformance, MemoryDevice } from "./testing.ts";

describe("openI2cBus adapter conformance (i2c-bus shaped module over the fake bus)", () => {
  for (const check of i2cBusConformance(async () => {
    const fake = new FakeI2cBus().attach(0x50, new MemoryDevice());
    const bus = await openI2cBus(1, { lib: fakeI2cBusModule(fake) });
    return { bus, memoryAddress: 0x50, absentAddress: 0x51 };
  })) {
    it(check.name, () => check.run());
  }
});

describe("openI2cBus", () => {
  afterEach(() => {
    vi.doUnmock("i2c-bus");
    vi.resetModules();
  });

  it("accepts an i2c-bus PromisifiedBus wherever an I2cBus is expected", () => {
    expectTypeOf<PromisifiedBus>().toExtend<I2cBus>();
  });

  it.skipIf(existsSync("/dev/i2c-1"))(
    "with the real i2c-bus module and no /dev/i2c-1, fails with the device file and the fix",
    async () => {
      const error = await openI2cBus(1).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(I2cError);
      expect(error).toMatchObject({ code: "I2C_BUS_NOT_FOUND", osCode: "ENOENT", devicePath: "/dev/i2c-1" });
      const { message, cause } = error as I2cError;
      expect(message).toContain("/dev/i2c-1 does not exist");
      expect(message).toContain("raspi-config");
      expect(message).toContain("dtparam=i2c_arm=on");
      expect(message).toContain("usermod -aG i2c");
      expect(cause).toMatchObject({ code: "ENOENT", path: "/dev/i2c-1" });
    },
  );

  it.skipIf(existsSync("/dev/i2c-7"))("names the bus that was asked for", async () => {
    await expect(openI2cBus(7)).rejects.toMatchObject({
      code: "I2C_BUS_NOT_FOUND",
      message: expect.stringContaining("/dev/i2c-7"),
    });
  });

  it("maps EACCES on the device file to I2C_PERMISSION_DENIED with the group fix, and closes the bus", async () => {
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/dev/i2c-1'"), {
      code: "EACCES",
      errno: -13,
      syscall: "open",
      path: "/dev/i2c-1",
    });
    const lib = fakeI2cBusModule(new FakeI2cBus(), { funcsError: eacces });
    const error = await openI2cBus(1, { lib }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "I2C_PERMISSION_DENIED", devicePath: "/dev/i2c-1", cause: eacces });
    expect((error as Error).message).toMatch(/usermod -aG i2c/);
    expect(lib.closes).toBe(1);
  });

  it("passes forceAccess through and reports an open failure with its cause", async () => {
    const fake = new FakeI2cBus();
    const lib = fakeI2cBusModule(fake);
    const bus = await openI2cBus(3, { lib, forceAccess: true });
    await bus.close();
    expect(lib.opened).toEqual([{ busNumber: 3, forceAccess: true }]);
    const failing = fakeI2cBusModule(fake, { openError: createOsError("EBUSY", "open") });
    await expect(openI2cBus(1, { lib: failing })).rejects.toMatchObject({
      code: "I2C_IO_ERROR",
      osCode: "EBUSY",
    });
  });

  it("rejects a bad bus number and an aborted signal before loading anything", async () => {
    const lib = fakeI2cBusModule(new FakeI2cBus());
    await expect(openI2cBus(-1, { lib })).rejects.toMatchObject({ code: "I2C_INVALID_ARGUMENT" });
    const reason = new Error("cancelled");
    await expect(openI2cBus(1, { lib, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(lib.opened).toEqual([]);
  });

  it("reports a native module that cannot load as I2C_MODULE_UNAVAILABLE with the install fix", async () => {
    vi.doMock("i2c-bus", () => {
      throw new Error("Could not locate the bindings file.");
    });
    const fresh = await import("./open.ts");
    await expect(fresh.openI2cBus(1)).rejects.toMatchObject({
      code: "I2C_MODULE_UNAVAILABLE",
      message: expect.stringContaining("npm install i2c-bus"),
    });
  });

  it("maps native transfer errors to I2cError codes with the device path", async () => {
    const fake = new FakeI2cBus().attach(0x29, new MemoryDevice());
    const bus = await openI2cBus(1, { lib: fakeI2cBusModule(fake) });
    fake.injectFault({ code: "ETIMEDOUT" });
    await expect(bus.readByte(0x29, 0x12)).rejects.toMatchObject({
      code: "I2C_TIMEOUT",
      devicePath: "/dev/i2c-1",
      address: 0x29,
      message: expect.stringContaining("/dev/i2c-1"),
    });
    await expect(bus.readByte(0x40, 0)).rejects.toMatchObject({
      code: "I2C_NACK",
      message: expect.stringContaining("0x40 on /dev/i2c-1"),
    });
    await bus.close();
  });
});
