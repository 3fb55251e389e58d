import type { FakeI2cBus } from "./fake-bus.ts";
import type { I2cBusModule, RawI2cBus } from "./open.ts";

/** Rethrows what the "kernel" said (the I2cError's native cause), as the real i2c-bus module would. */
async function native<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw typeof (cause as { errno?: unknown } | undefined)?.errno === "number" ? cause : error;
  }
}

export interface ShimOptions {
  /** Rejects openPromisified() with this. */
  openError?: unknown;
  /** Rejects i2cFuncs() (the first access of the device file) with this. */
  funcsError?: unknown;
}

/** An `i2c-bus`-shaped module whose buses are backed by `fake`, failing with native-shaped errors. */
export function fakeI2cBusModule(
  fake: FakeI2cBus,
  options: ShimOptions = {},
): I2cBusModule & { opened: Array<{ busNumber: number; forceAccess: boolean | undefined }>; closes: number } {
  const module = {
    opened: [] as Array<{ busNumber: number; forceAccess: boolean | undefined }>,
    closes: 0,
    async openPromisified(busNumber: number, openOptions?: { forceAccess: boolean }): Promise<RawI2cBus> {
      module.opened.push({ busNumber, forceAccess: openOptions?.forceAccess });
      if (options.openError !== undefined) throw options.openError;
      return {
        i2cFuncs: async () => {
          if (options.funcsError !== undefined) throw options.funcsError;
          return {};
        },
        readByte: (a, c) => native(() => fake.readByte(a, c)),
        writeByte: (a, c, b) => native(() => fake.writeByte(a, c, b)),
        readWord: (a, c) => native(() => fake.readWord(a, c)),
        writeWord: (a, c, w) => native(() => fake.writeWord(a, c, w)),
        readI2cBlock: (a, c, l, b) => native(() => fake.readI2cBlock(a, c, l, b)),
        writeI2cBlock: (a, c, l, b) => native(() => fake.writeI2cBlock(a, c, l, b)),
        i2cRead: (a, l, b) => native(() => fake.i2cRead(a, l, b)),
        i2cWrite: (a, l, b) => native(() => fake.i2cWrite(a, l, b)),
        receiveByte: (a) => native(() => fake.receiveByte(a)),
        sendByte: (a, b) => native(() => fake.sendByte(a, b)),
        close: async () => {
          module.closes += 1;
          await fake.close();
        },
      };
    },
  };
  return module;
}
