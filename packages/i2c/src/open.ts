import { type Logger, noopLogger, type OperationOptions } from "@skittlesorter/core";
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
import { enableI2cHint, I2cError, type I2cOperation, PERMISSION_HINT, toI2cError } from "./errors.ts";

/** The promisified bus the `i2c-bus` module hands out, as far as this adapter uses it. */
export interface RawI2cBus {
  i2cFuncs(): Promise<unknown>;
  readByte(address: number, command: number): Promise<number>;
  writeByte(address: number, command: number, byte: number): Promise<void>;
  readWord(address: number, command: number): Promise<number>;
  writeWord(address: number, command: number, word: number): Promise<void>;
  readI2cBlock(address: number, command: number, length: number, buffer: Buffer): Promise<BytesRead>;
  writeI2cBlock(address: number, command: number, length: number, buffer: Buffer): Promise<BytesWritten>;
  i2cRead(address: number, length: number, buffer: Buffer): Promise<BytesRead>;
  i2cWrite(address: number, length: number, buffer: Buffer): Promise<BytesWritten>;
  receiveByte(address: number): Promise<number>;
  sendByte(address: number, byte: number): Promise<void>;
  close(): Promise<void>;
}

/** The part of the `i2c-bus` module this adapter calls; pass your own as `lib` to test without hardware. */
export interface I2cBusModule {
  openPromisified(busNumber: number, options?: { forceAccess: boolean }): Promise<RawI2cBus>;
}

export interface OpenI2cBusOptions extends OperationOptions {
  /** The `i2c-bus` module (or a stand-in). Default: `await import("i2c-bus")`, loaded only now. */
  lib?: I2cBusModule | undefined;
  /** Talk to addresses a kernel driver has claimed (`I2C_SLAVE_FORCE`). Default false. */
  forceAccess?: boolean | undefined;
  logger?: Logger | undefined;
}

const MODULE_HINT =
  "Install it next to @skittlesorter/i2c on the Raspberry Pi (`npm install i2c-bus`); it compiles a native " +
  "addon with node-gyp, so build tools must be present (`sudo apt install build-essential python3`).";

async function loadI2cBusModule(): Promise<I2cBusModule> {
  let loaded: unknown;
  try {
    loaded = await import("i2c-bus");
  } catch (cause) {
    throw new I2cError(
      "I2C_MODULE_UNAVAILABLE",
      `The i2c-bus native module could not be loaded (${(cause as Error).message}). ${MODULE_HINT}`,
      { operation: "open", cause },
    );
  }
  const namespace = loaded as Partial<I2cBusModule> & { default?: Partial<I2cBusModule> };
  const lib = typeof namespace.openPromisified === "function" ? namespace : namespace.default;
  if (typeof lib?.openPromisified !== "function") {
    throw new I2cError(
      "I2C_MODULE_UNAVAILABLE",
      `The installed i2c-bus module has no openPromisified(); it is too old. ${MODULE_HINT}`,
      { operation: "open" },
    );
  }
  return lib as I2cBusModule;
}

function openError(error: unknown, busNumber: number, devicePath: string): I2cError {
  const osCode = (error as { code?: unknown } | null)?.code;
  if (osCode === "ENOENT") {
    return new I2cError(
      "I2C_BUS_NOT_FOUND",
      `I2C bus ${busNumber} is not available: ${devicePath} does not exist (ENOENT). ${enableI2cHint(busNumber)}`,
      { operation: "open", osCode, devicePath, cause: error },
    );
  }
  if (osCode === "EACCES" || osCode === "EPERM") {
    return new I2cError(
      "I2C_PERMISSION_DENIED",
      `Permission denied opening ${devicePath} (${osCode}). ${PERMISSION_HINT}`,
      { operation: "open", osCode, devicePath, cause: error },
    );
  }
  return toI2cError(error, { operation: "open", devicePath });
}

/**
 * Opens `/dev/i2c-<busNumber>` through the `i2c-bus` native module, which is imported only here, so importing this
 * package works on machines without the module or any I2C hardware. The device file is opened straight away (the
 * module itself would open it lazily), so a missing bus or a permission problem fails here, with the fix in the
 * message, rather than on the first transfer.
 */
export async function openI2cBus(busNumber: number, options: OpenI2cBusOptions = {}): Promise<I2cBus> {
  const { signal, forceAccess = false, logger = noopLogger } = options;
  signal?.throwIfAborted();
  if (!Number.isInteger(busNumber) || busNumber < 0) {
    throw new I2cError(
      "I2C_INVALID_ARGUMENT",
      `The I2C bus number must be a non-negative integer, got ${String(busNumber)} (the Raspberry Pi header is bus 1).`,
      { operation: "open" },
    );
  }
  const devicePath = `/dev/i2c-${busNumber}`;
  const lib = options.lib ?? (await loadI2cBusModule());
  signal?.throwIfAborted();
  let raw: RawI2cBus;
  try {
    raw = await lib.openPromisified(busNumber, { forceAccess });
  } catch (error) {
    throw openError(error, busNumber, devicePath);
  }
  try {
    // i2c-bus opens the device file on first use; i2cFuncs() is a local ioctl that forces that without bus traffic.
    await raw.i2cFuncs();
    signal?.throwIfAborted();
  } catch (error) {
    await raw.close().catch(() => undefined);
    if (signal?.aborted && error === signal.reason) throw error;
    throw openError(error, busNumber, devicePath);
  }
  logger.debug("i2c bus opened", { devicePath, forceAccess });
  return new NativeI2cBus(raw, devicePath, logger);
}

class NativeI2cBus implements I2cBus {
  readonly #raw: RawI2cBus;
  readonly #devicePath: string;
  readonly #logger: Logger;
  #closing: Promise<void> | undefined;

  constructor(raw: RawI2cBus, devicePath: string, logger: Logger) {
    this.#raw = raw;
    this.#devicePath = devicePath;
    this.#logger = logger;
  }

  async #call<T>(
    operation: I2cOperation,
    address: number,
    options: OperationOptions | undefined,
    validate: () => void,
    run: () => Promise<T>,
  ): Promise<T> {
    options?.signal?.throwIfAborted();
    if (this.#closing !== undefined) throw closedError(operation, address);
    checkAddress(operation, address);
    validate();
    try {
      return await run();
    } catch (error) {
      throw toI2cError(error, { operation, address, devicePath: this.#devicePath });
    }
  }

  readByte(address: number, command: number, options?: OperationOptions): Promise<number> {
    return this.#call(
      "readByte",
      address,
      options,
      () => checkCommand("readByte", address, command),
      () => this.#raw.readByte(address, command),
    );
  }

  writeByte(address: number, command: number, byte: number, options?: OperationOptions): Promise<void> {
    return this.#call(
      "writeByte",
      address,
      options,
      () => {
        checkCommand("writeByte", address, command);
        checkByte("writeByte", address, byte);
      },
      () => this.#raw.writeByte(address, command, byte),
    );
  }

  readWord(address: number, command: number, options?: OperationOptions): Promise<number> {
    return this.#call(
      "readWord",
      address,
      options,
      () => checkCommand("readWord", address, command),
      () => this.#raw.readWord(address, command),
    );
  }

  writeWord(address: number, command: number, word: number, options?: OperationOptions): Promise<void> {
    return this.#call(
      "writeWord",
      address,
      options,
      () => {
        checkCommand("writeWord", address, command);
        checkWord("writeWord", address, word);
      },
      () => this.#raw.writeWord(address, command, word),
    );
  }

  readI2cBlock(
    address: number,
    command: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesRead> {
    return this.#call(
      "readI2cBlock",
      address,
      options,
      () => {
        checkCommand("readI2cBlock", address, command);
        checkBuffer("readI2cBlock", address, length, buffer, I2C_BLOCK_MAX);
      },
      () => this.#raw.readI2cBlock(address, command, length, buffer),
    );
  }

  writeI2cBlock(
    address: number,
    command: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesWritten> {
    return this.#call(
      "writeI2cBlock",
      address,
      options,
      () => {
        checkCommand("writeI2cBlock", address, command);
        checkBuffer("writeI2cBlock", address, length, buffer, I2C_BLOCK_MAX);
      },
      () => this.#raw.writeI2cBlock(address, command, length, buffer),
    );
  }

  i2cRead(address: number, length: number, buffer: Buffer, options?: OperationOptions): Promise<BytesRead> {
    return this.#call(
      "i2cRead",
      address,
      options,
      () => checkBuffer("i2cRead", address, length, buffer, undefined),
      () => this.#raw.i2cRead(address, length, buffer),
    );
  }

  i2cWrite(
    address: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesWritten> {
    return this.#call(
      "i2cWrite",
      address,
      options,
      () => checkBuffer("i2cWrite", address, length, buffer, undefined),
      () => this.#raw.i2cWrite(address, length, buffer),
    );
  }

  receiveByte(address: number, options?: OperationOptions): Promise<number> {
    return this.#call(
      "receiveByte",
      address,
      options,
      () => undefined,
      () => this.#raw.receiveByte(address),
    );
  }

  sendByte(address: number, byte: number, options?: OperationOptions): Promise<void> {
    return this.#call(
      "sendByte",
      address,
      options,
      () => checkByte("sendByte", address, byte),
      () => this.#raw.sendByte(address, byte),
    );
  }

  close(): Promise<void> {
    this.#closing ??= this.#raw.close().then(
      () => this.#logger.debug("i2c bus closed", { devicePath: this.#devicePath }),
      (error: unknown) => {
        throw toI2cError(error, { operation: "close", devicePath: this.#devicePath });
      },
    );
    return this.#closing;
  }
}
