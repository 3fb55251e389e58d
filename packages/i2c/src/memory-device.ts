import type { I2cDevice } from "./fake-bus.ts";

/**
 * A plain register file (like a small EEPROM or SRAM): the first byte of a write sets the pointer, further bytes
 * are stored with auto-increment, reads continue from the pointer. Used by the bus conformance suite.
 */
export class MemoryDevice implements I2cDevice {
  readonly memory: Uint8Array;
  #pointer = 0;

  constructor(size = 256) {
    this.memory = new Uint8Array(size);
  }

  write(bytes: Uint8Array): void {
    const [first, ...data] = bytes;
    if (first === undefined) return;
    this.#pointer = first % this.memory.length;
    for (const byte of data) {
      this.memory[this.#pointer] = byte;
      this.#pointer = (this.#pointer + 1) % this.memory.length;
    }
  }

  read(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let index = 0; index < length; index += 1) {
      out[index] = this.memory[this.#pointer] ?? 0xff;
      this.#pointer = (this.#pointer + 1) % this.memory.length;
    }
    return out;
  }
}
