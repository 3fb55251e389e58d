import assert from "node:assert/strict";
import type { I2cBus } from "./bus.ts";
import { isI2cError } from "./errors.ts";

/**
 * One check of a conformance suite. Suites are plain lists, independent of any test runner:
 * `for (const c of suite) it(c.name, c.run)`. A case throws (node:assert) when the implementation is wrong.
 */
export interface ConformanceCase {
  readonly name: string;
  run(): Promise<void>;
}

/** What an {@link I2cBus} under test must provide to {@link i2cBusConformance}. */
export interface I2cBusHarness {
  bus: I2cBus;
  /** Address of a register file: a write's first byte sets its pointer; data bytes and reads auto-increment. */
  memoryAddress: number;
  /** An address where nothing answers. */
  absentAddress: number;
  /** Called after each case. */
  dispose?(): Promise<void>;
}

function expectCode(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isI2cError(error), `expected an I2cError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.ok(error.message.length > 20, "the message explains the problem");
    return true;
  };
}

/** The behaviour every {@link I2cBus} (the fake and the real adapter) must show. */
export function i2cBusConformance(factory: () => Promise<I2cBusHarness>): ConformanceCase[] {
  const withBus =
    (body: (harness: I2cBusHarness) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const harness = await factory();
      try {
        await body(harness);
      } finally {
        await harness.bus.close();
        await harness.dispose?.();
      }
    };

  return [
    {
      name: "writeByte then readByte round-trips a register",
      run: withBus(async ({ bus, memoryAddress: at }) => {
        await bus.writeByte(at, 0x10, 0xa5);
        await bus.writeByte(at, 0x11, 0x5a);
        assert.equal(await bus.readByte(at, 0x10), 0xa5);
        assert.equal(await bus.readByte(at, 0x11), 0x5a);
      }),
    },
    {
      name: "words are little-endian on the wire",
      run: withBus(async ({ bus, memoryAddress: at }) => {
        await bus.writeWord(at, 0x20, 0xbeef);
        assert.equal(await bus.readByte(at, 0x20), 0xef);
        assert.equal(await bus.readByte(at, 0x21), 0xbe);
        assert.equal(await bus.readWord(at, 0x20), 0xbeef);
      }),
    },
    {
      name: "block write and block read move bytes in one transaction and fill the caller's buffer",
      run: withBus(async ({ bus, memoryAddress: at }) => {
        const data = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
        const written = await bus.writeI2cBlock(at, 0x30, 8, data);
        assert.equal(written.bytesWritten, 8);
        assert.deepEqual([...data], [1, 2, 3, 4, 5, 6, 7, 8], "the input buffer is not modified");
        const target = Buffer.alloc(10, 0xee);
        const read = await bus.readI2cBlock(at, 0x32, 4, target);
        assert.equal(read.bytesRead, 4);
        assert.equal(read.buffer, target);
        assert.deepEqual([...target], [3, 4, 5, 6, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);
      }),
    },
    {
      name: "plain i2cWrite/i2cRead and sendByte/receiveByte carry raw bytes",
      run: withBus(async ({ bus, memoryAddress: at }) => {
        await bus.i2cWrite(at, 4, Buffer.from([0x40, 9, 8, 7]));
        await bus.i2cWrite(at, 1, Buffer.from([0x41]));
        const target = Buffer.alloc(2);
        await bus.i2cRead(at, 2, target);
        assert.deepEqual([...target], [8, 7]);
        await bus.sendByte(at, 0x40);
        assert.equal(await bus.receiveByte(at), 9);
      }),
    },
    {
      name: "an address nobody answers rejects with I2C_NACK naming the address",
      run: withBus(async ({ bus, absentAddress }) => {
        await assert.rejects(bus.readByte(absentAddress, 0x00), (error: unknown) => {
          expectCode("I2C_NACK")(error);
          assert.equal((error as { address?: unknown }).address, absentAddress);
          assert.match((error as Error).message, new RegExp(`0x${absentAddress.toString(16)}`));
          return true;
        });
        await assert.rejects(bus.writeByte(absentAddress, 0x00, 1), expectCode("I2C_NACK"));
      }),
    },
    {
      name: "invalid arguments reject with I2C_INVALID_ARGUMENT and send nothing",
      run: withBus(async ({ bus, memoryAddress: at }) => {
        await bus.writeByte(at, 0x50, 0x11);
        await assert.rejects(bus.readByte(0x80, 0), expectCode("I2C_INVALID_ARGUMENT"));
        await assert.rejects(bus.writeByte(at, 0x50, 0x100), expectCode("I2C_INVALID_ARGUMENT"));
        await assert.rejects(bus.writeByte(at, 0x100, 1), expectCode("I2C_INVALID_ARGUMENT"));
        await assert.rejects(bus.writeWord(at, 0x50, 0x10000), expectCode("I2C_INVALID_ARGUMENT"));
        await assert.rejects(
          bus.readI2cBlock(at, 0x50, 33, Buffer.alloc(33)),
          expectCode("I2C_INVALID_ARGUMENT"),
        );
        await assert.rejects(
          bus.writeI2cBlock(at, 0x50, 4, Buffer.alloc(2)),
          expectCode("I2C_INVALID_ARGUMENT"),
        );
        assert.equal(await bus.readByte(at, 0x50), 0x11);
      }),
    },
    {
      name: "an aborted signal rejects with its reason before anything is sent",
      run: withBus(async ({ bus, memoryAddress: at }) => {
        await bus.writeByte(at, 0x60, 0x01);
        const reason = new Error("stop");
        const signal = AbortSignal.abort(reason);
        await assert.rejects(bus.writeByte(at, 0x60, 0x02, { signal }), (error) => error === reason);
        assert.equal(await bus.readByte(at, 0x60), 0x01);
      }),
    },
    {
      name: "close is idempotent and later transactions reject with I2C_BUS_CLOSED",
      run: withBus(async ({ bus, memoryAddress: at }) => {
        await bus.close();
        await bus.close();
        await assert.rejects(bus.readByte(at, 0), expectCode("I2C_BUS_CLOSED"));
      }),
    },
  ];
}
