import { type Clock, delay, type OperationOptions, systemClock } from "@skittlesorter/core";
import {
  type BytesRead,
  type BytesWritten,
  checkAddress,
  checkBuffer,
  checkByte,
  checkCommand,
  checkWord,
  closedError,
  I2C_BLOCK_MAX,
  type I2cBus,
} from "./bus.ts";
import { hex, I2cError, type I2cOperation, toI2cError } from "./errors.ts";
import { createOsError, type OsErrorCode } from "./os-error.ts";

/**
 * A chip emulator on the fake bus, at byte-stream level: what an I2C master sends after the address byte, and what
 * it clocks out. An SMBus "read byte data" is `write([command])` followed by `read(1)` (repeated start), so the chip
 * keeps its own register pointer exactly as real silicon does. Throw (e.g. {@link createOsError}) to fail a transfer.
 */
export interface I2cDevice {
  /** One write transfer: every byte after the address byte. */
  write(bytes: Uint8Array): void;
  /** One read transfer of `length` bytes. */
  read(length: number): Uint8Array;
}

/** One transaction the fake bus carried (or refused), in order. */
export interface I2cTransaction {
  operation: Exclude<I2cOperation, "open" | "close">;
  address: number;
  /** The command (register) byte, for the SMBus operations that have one. */
  command?: number | undefined;
  /** Bytes written, or bytes read back (empty when the transaction failed). */
  bytes: number[];
  /** When it happened, on the bus's clock. */
  atMs: number;
  /** The error code when the transaction failed (`I2C_NACK`, `I2C_TIMEOUT`, …). */
  error?: string | undefined;
}

/** A fault to inject into the next matching transactions. */
export interface I2cFault {
  /** What the "kernel" reports: `EREMOTEIO` (no ACK), `ETIMEDOUT`, `EIO`, … */
  code: OsErrorCode;
  /** Only transactions to this address (default: any). */
  address?: number | undefined;
  /** Only these operations (default: any). */
  operations?: readonly Exclude<I2cOperation, "open" | "close">[] | undefined;
  /** How many matching transactions fail. Default 1; `Infinity` until {@link FakeI2cBus.clearFaults}. */
  times?: number | undefined;
  /** Hang this long on the bus clock before failing, like a bus timeout. Default 0. */
  delayMs?: number | undefined;
}

export interface FakeI2cBusOptions {
  /** Timestamps for the transaction log and fault delays. Default: the system clock. */
  clock?: Clock | undefined;
}

type LoggedOperation = I2cTransaction["operation"];

interface PendingFault {
  fault: I2cFault;
  remaining: number;
}

/**
 * An in-memory {@link I2cBus}: routes each transaction by address to an attached {@link I2cDevice}, answers absent
 * addresses with a NACK (`I2C_NACK`, as `EREMOTEIO` does on Linux), records every transaction, and can inject faults.
 * Validation and errors match the real adapter's.
 */
export class FakeI2cBus implements I2cBus {
  readonly #clock: Clock;
  readonly #devices = new Map<number, I2cDevice>();
  readonly #log: I2cTransaction[] = [];
  #faults: PendingFault[] = [];
  #closed = false;

  constructor(options: FakeI2cBusOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /** Puts `device` on the bus at `address`. */
  attach(address: number, device: I2cDevice): this {
    if (!Number.isInteger(address) || address < 0 || address > 0x7f) {
      throw new I2cError("I2C_INVALID_ARGUMENT", `attach: ${String(address)} is not a 7-bit I2C address.`);
    }
    if (this.#devices.has(address)) {
      throw new I2cError(
        "I2C_INVALID_ARGUMENT",
        `attach: a device is already attached at ${hex(address)}; detach it first or use another address.`,
        { address },
      );
    }
    this.#devices.set(address, device);
    return this;
  }

  /** Removes the device at `address` (it stops acknowledging). */
  detach(address: number): void {
    this.#devices.delete(address);
  }

  /** The device attached at `address`. */
  device(address: number): I2cDevice | undefined {
    return this.#devices.get(address);
  }

  /** Every transaction so far, oldest first. */
  get transactions(): readonly I2cTransaction[] {
    return this.#log;
  }

  clearTransactions(): void {
    this.#log.length = 0;
  }

  /** Makes the next matching transaction(s) fail; see {@link I2cFault}. */
  injectFault(fault: I2cFault): void {
    this.#faults.push({ fault: { ...fault }, remaining: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.#faults = [];
  }

  get closed(): boolean {
    return this.#closed;
  }

  #takeFault(operation: LoggedOperation, address: number): I2cFault | undefined {
    const index = this.#faults.findIndex(
      ({ fault }) =>
        (fault.address === undefined || fault.address === address) &&
        (fault.operations === undefined || fault.operations.includes(operation)),
    );
    const pending = this.#faults[index];
    if (pending === undefined) return undefined;
    pending.remaining -= 1;
    if (pending.remaining <= 0) this.#faults.splice(index, 1);
    return pending.fault;
  }

  async #transact<T>(
    operation: LoggedOperation,
    address: number,
    command: number | undefined,
    options: OperationOptions | undefined,
    validate: () => void,
    run: (device: I2cDevice) => { result: T; bytes: number[] },
  ): Promise<T> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    if (this.#closed) throw closedError(operation, address);
    checkAddress(operation, address);
    validate();
    const entry: I2cTransaction = {
      operation,
      address,
      command,
      bytes: [],
      atMs: this.#clock.now(),
    };
    try {
      const fault = this.#takeFault(operation, address);
      if (fault !== undefined) {
        if ((fault.delayMs ?? 0) > 0) await delay(fault.delayMs ?? 0, { clock: this.#clock, signal });
        throw createOsError(fault.code, operation);
      }
      const device = this.#devices.get(address);
      if (device === undefined) throw createOsError("EREMOTEIO", operation);
      const { result, bytes } = run(device);
      entry.bytes = bytes;
      this.#log.push(entry);
      return result;
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      const wrapped = toI2cError(error, { operation, address });
      entry.error = wrapped.code;
      this.#log.push(entry);
      throw wrapped;
    }
  }

  readByte(address: number, command: number, options?: OperationOptions): Promise<number> {
    return this.#transact(
      "readByte",
      address,
      command,
      options,
      () => checkCommand("readByte", address, command),
      (device) => {
        device.write(Uint8Array.of(command));
        const value = device.read(1)[0] ?? 0xff;
        return { result: value, bytes: [value] };
      },
    );
  }

  writeByte(address: number, command: number, byte: number, options?: OperationOptions): Promise<void> {
    return this.#transact(
      "writeByte",
      address,
      command,
      options,
      () => {
        checkCommand("writeByte", address, command);
        checkByte("writeByte", address, byte);
      },
      (device) => {
        device.write(Uint8Array.of(command, byte));
        return { result: undefined, bytes: [byte] };
      },
    );
  }

  readWord(address: number, command: number, options?: OperationOptions): Promise<number> {
    return this.#transact(
      "readWord",
      address,
      command,
      options,
      () => checkCommand("readWord", address, command),
      (device) => {
        device.write(Uint8Array.of(command));
        const data = device.read(2);
        const low = data[0] ?? 0xff;
        const high = data[1] ?? 0xff;
        return { result: low | (high << 8), bytes: [low, high] };
      },
    );
  }

  writeWord(address: number, command: number, word: number, options?: OperationOptions): Promise<void> {
    return this.#transact(
      "writeWord",
      address,
      command,
      options,
      () => {
        checkCommand("writeWord", address, command);
        checkWord("writeWord", address, word);
      },
      (device) => {
        const bytes = [word & 0xff, word >> 8];
        device.write(Uint8Array.of(command, ...bytes));
        return { result: undefined, bytes };
      },
    );
  }

  readI2cBlock(
    address: number,
    command: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesRead> {
    return this.#transact(
      "readI2cBlock",
      address,
      command,
      options,
      () => {
        checkCommand("readI2cBlock", address, command);
        checkBuffer("readI2cBlock", address, length, buffer, I2C_BLOCK_MAX);
      },
      (device) => {
        device.write(Uint8Array.of(command));
        const data = fit(device.read(length), length);
        buffer.set(data);
        return { result: { bytesRead: length, buffer }, bytes: [...data] };
      },
    );
  }

  writeI2cBlock(
    address: number,
    command: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesWritten> {
    return this.#transact(
      "writeI2cBlock",
      address,
      command,
      options,
      () => {
        checkCommand("writeI2cBlock", address, command);
        checkBuffer("writeI2cBlock", address, length, buffer, I2C_BLOCK_MAX);
      },
      (device) => {
        const data = [...buffer.subarray(0, length)];
        device.write(Uint8Array.of(command, ...data));
        return { result: { bytesWritten: length, buffer }, bytes: data };
      },
    );
  }

  i2cRead(address: number, length: number, buffer: Buffer, options?: OperationOptions): Promise<BytesRead> {
    return this.#transact(
      "i2cRead",
      address,
      undefined,
      options,
      () => checkBuffer("i2cRead", address, length, buffer, undefined),
      (device) => {
        const data = fit(device.read(length), length);
        buffer.set(data);
        return { result: { bytesRead: length, buffer }, bytes: [...data] };
      },
    );
  }

  i2cWrite(
    address: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesWritten> {
    return this.#transact(
      "i2cWrite",
      address,
      undefined,
      options,
      () => checkBuffer("i2cWrite", address, length, buffer, undefined),
      (device) => {
        const data = [...buffer.subarray(0, length)];
        device.write(Uint8Array.from(data));
        return { result: { bytesWritten: length, buffer }, bytes: data };
      },
    );
  }

  receiveByte(address: number, options?: OperationOptions): Promise<number> {
    return this.#transact(
      "receiveByte",
      address,
      undefined,
      options,
      () => undefined,
      (device) => {
        const value = device.read(1)[0] ?? 0xff;
        return { result: value, bytes: [value] };
      },
    );
  }

  sendByte(address: number, byte: number, options?: OperationOptions): Promise<void> {
    return this.#transact(
      "sendByte",
      address,
      undefined,
      options,
      () => checkByte("sendByte", address, byte),
      (device) => {
        device.write(Uint8Array.of(byte));
        return { result: undefined, bytes: [byte] };
      },
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** A device that returns fewer bytes than asked gets the rest as 0xFF (an idle, pulled-up SDA line). */
function fit(data: Uint8Array, length: number): Uint8Array {
  if (data.length === length) return data;
  const out = new Uint8Array(length).fill(0xff);
  out.set(data.subarray(0, length));
  return out;
}
