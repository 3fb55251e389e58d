import type { OperationOptions } from "@skittlesorter/core";
import { I2cError, type I2cOperation } from "./errors.ts";

export interface BytesRead {
  bytesRead: number;
  buffer: Buffer;
}

export interface BytesWritten {
  bytesWritten: number;
  buffer: Buffer;
}

/**
 * The I2C bus the drivers need: the SMBus and plain-I2C subset of `i2c-bus`'s `PromisifiedBus`, with the same
 * names, argument order and results, so a `PromisifiedBus` can be passed wherever an `I2cBus` is expected.
 * Each method also takes an optional `{ signal }`; a transaction already handed to the kernel is not interrupted.
 *
 * Failures reject with {@link I2cError}. Block transfers are limited to 32 bytes (the SMBus limit).
 */
export interface I2cBus {
  /** SMBus read byte data: write `command`, repeated start, read one byte. */
  readByte(address: number, command: number, options?: OperationOptions): Promise<number>;
  /** SMBus write byte data: write `command` then `byte` in one transaction. */
  writeByte(address: number, command: number, byte: number, options?: OperationOptions): Promise<void>;
  /** SMBus read word data (little-endian). */
  readWord(address: number, command: number, options?: OperationOptions): Promise<number>;
  /** SMBus write word data (little-endian). */
  writeWord(address: number, command: number, word: number, options?: OperationOptions): Promise<void>;
  /** I2C block read: write `command`, repeated start, read `length` (≤ 32) bytes into `buffer`. */
  readI2cBlock(
    address: number,
    command: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesRead>;
  /** I2C block write: `command` followed by `length` (≤ 32) bytes of `buffer`, in one transaction. */
  writeI2cBlock(
    address: number,
    command: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesWritten>;
  /** Plain I2C read of `length` bytes into `buffer`. */
  i2cRead(address: number, length: number, buffer: Buffer, options?: OperationOptions): Promise<BytesRead>;
  /** Plain I2C write of the first `length` bytes of `buffer`. */
  i2cWrite(
    address: number,
    length: number,
    buffer: Buffer,
    options?: OperationOptions,
  ): Promise<BytesWritten>;
  /** SMBus receive byte (no command). */
  receiveByte(address: number, options?: OperationOptions): Promise<number>;
  /** SMBus send byte (no command). */
  sendByte(address: number, byte: number, options?: OperationOptions): Promise<void>;
  /** Releases the bus. Idempotent. */
  close(): Promise<void>;
}

/** Largest SMBus / I2C block transfer. */
export const I2C_BLOCK_MAX = 32;

function invalid(operation: I2cOperation, message: string, address?: number): I2cError {
  return new I2cError("I2C_INVALID_ARGUMENT", `${operation}: ${message}`, { operation, address });
}

function checkInteger(
  operation: I2cOperation,
  what: string,
  value: unknown,
  max: number,
  address?: number,
): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw invalid(
      operation,
      `${what} must be an integer from 0 to ${max}, got ${String(value)}. Fix the caller's argument.`,
      address,
    );
  }
}

export function checkAddress(operation: I2cOperation, address: unknown): asserts address is number {
  checkInteger(operation, "the 7-bit address", address, 0x7f);
}

export function checkCommand(operation: I2cOperation, address: number, command: unknown): void {
  checkInteger(operation, "the command (register) byte", command, 0xff, address);
}

export function checkByte(operation: I2cOperation, address: number, byte: unknown): void {
  checkInteger(operation, "the data byte", byte, 0xff, address);
}

export function checkWord(operation: I2cOperation, address: number, word: unknown): void {
  checkInteger(operation, "the data word", word, 0xffff, address);
}

export function checkBuffer(
  operation: I2cOperation,
  address: number,
  length: unknown,
  buffer: unknown,
  max: number | undefined,
): void {
  checkInteger(operation, "the length", length, max ?? Number.MAX_SAFE_INTEGER, address);
  if (!Buffer.isBuffer(buffer)) {
    throw invalid(operation, "the buffer must be a Node.js Buffer.", address);
  }
  if (buffer.length < length) {
    throw invalid(
      operation,
      `the buffer holds ${buffer.length} bytes but ${length} were requested; pass a larger buffer.`,
      address,
    );
  }
}

export function closedError(operation: I2cOperation, address?: number): I2cError {
  return new I2cError(
    "I2C_BUS_CLOSED",
    `${operation}: the I2C bus was closed. Open a new bus with openI2cBus() before using it again.`,
    { operation, address },
  );
}
