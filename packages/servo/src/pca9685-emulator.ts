import { type Clock, systemClock } from "@skittlesorter/core";
import type { I2cDevice } from "@skittlesorter/i2c/emulator";
import { hex } from "./errors.ts";
import type { EdgeTimer } from "./oscillator.ts";
import { channelRegister, LED_FULL, MODE1, PCA9685_OSCILLATOR_HZ, PCA9685_REG } from "./pca9685.ts";

export interface Pca9685EmulatorOptions {
  /** The emulated chip's real oscillator, which may differ from the driver's assumption. Default 25 MHz. */
  oscillatorHz?: number | undefined;
  clock?: Clock | undefined;
}

export interface Pca9685OutputChange {
  channel: number;
  /** The pulse now on the pin, or undefined for none. */
  pulseUs: number | undefined;
  atMs: number;
}

const LAST_LED_REGISTER = 0x45;

/**
 * Register-level PCA9685 emulator for {@link FakeI2cBus}. It keeps the power-up values (MODE1 0x11 = SLEEP|ALLCALL,
 * MODE2 0x04, every LEDn full OFF, PRE_SCALE 0x1E), follows the register pointer with auto-increment only when MODE1.AI
 * is set (LED15_OFF_H and PRE_SCALE wrap to MODE1), ignores PRE_SCALE writes while awake, fans ALL_LED writes out to
 * every channel, and models RESTART: sleeping with channels running sets it and holds the outputs off after waking
 * until RESTART is written 1 (at least 500 µs after waking) or an LED register is written. Outputs change at the end
 * of each transaction (a STOP). {@link pulseWidthUs} computes what each pin puts out from prescale and registers.
 */
export class Pca9685Emulator implements I2cDevice {
  readonly oscillatorHz: number;
  readonly #clock: Clock;
  readonly #registers = new Uint8Array(256);
  readonly #violations: string[] = [];
  readonly #listeners = new Set<(change: Pca9685OutputChange) => void>();
  #pointer = 0;
  #wokeAtMs = Number.NEGATIVE_INFINITY;
  #outputs: Array<number | undefined> = [];

  constructor(options: Pca9685EmulatorOptions = {}) {
    this.oscillatorHz = options.oscillatorHz ?? PCA9685_OSCILLATOR_HZ;
    this.#clock = options.clock ?? systemClock;
    this.reset();
  }

  /** Power-on / software-reset state. */
  reset(): void {
    this.#registers.fill(0);
    this.#registers[PCA9685_REG.MODE1] = MODE1.SLEEP | MODE1.ALLCALL;
    this.#registers[PCA9685_REG.MODE2] = 0x04;
    for (let channel = 0; channel < 16; channel += 1)
      this.#registers[channelRegister(channel) + 3] = LED_FULL;
    this.#registers[PCA9685_REG.PRE_SCALE] = 0x1e;
    this.#pointer = 0;
    this.#outputs = this.#computeOutputs();
  }

  /** Protocol mistakes seen so far (a correct driver leaves this empty). */
  get violations(): readonly string[] {
    return this.#violations;
  }

  register(address: number): number {
    return this.#registers[address & 0xff] ?? 0;
  }

  get prescale(): number {
    return this.register(PCA9685_REG.PRE_SCALE);
  }

  get sleeping(): boolean {
    return (this.register(PCA9685_REG.MODE1) & MODE1.SLEEP) !== 0;
  }

  /** The frame rate the outputs run at: oscillator / (4096 × (prescale + 1)). */
  get frequencyHz(): number {
    return this.oscillatorHz / (4096 * (this.prescale + 1));
  }

  /** The pulse width on a channel's pin, in µs, or undefined when it sends no pulses. */
  pulseWidthUs(channel: number): number | undefined {
    return this.#outputs[channel];
  }

  /**
   * A GPIO input wired to `channel`'s pin: rising edges come once per frame of the emulated oscillator (so a driver that
   * assumes 25 MHz can measure this chip's real one), with optional timing jitter such as a userspace edge timer has.
   * It rejects when the channel puts out no pulses.
   */
  edgeTimer(channel: number, options: { jitterUs?: number; random?: () => number } = {}): EdgeTimer {
    const { jitterUs = 0, random = Math.random } = options;
    return {
      risingEdgesUs: async (count, operation = {}) => {
        operation.signal?.throwIfAborted();
        if (this.pulseWidthUs(channel) === undefined) {
          throw new Error(`channel ${channel} of the emulated PCA9685 puts out no pulses`);
        }
        const periodUs = 1e6 / this.frequencyHz;
        const firstUs = Math.ceil((this.#clock.now() * 1000) / periodUs) * periodUs;
        return Array.from(
          { length: count },
          (_, index) => firstUs + index * periodUs + (random() * 2 - 1) * jitterUs,
        );
      },
    };
  }

  /** Calls `listener` whenever a pin's pulse width changes. Returns an unsubscribe function. */
  onOutputChange(listener: (change: Pca9685OutputChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  write(bytes: Uint8Array): void {
    const [pointer, ...data] = bytes;
    if (pointer === undefined) return;
    this.#pointer = pointer;
    for (const value of data) {
      this.#writeRegister(this.#pointer, value);
      this.#advance();
    }
    this.#stop();
  }

  read(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let index = 0; index < length; index += 1) {
      const address = this.#pointer;
      out[index] =
        address >= PCA9685_REG.ALL_LED_ON_L && address <= PCA9685_REG.ALL_LED_OFF_H
          ? 0
          : this.register(address);
      this.#advance();
    }
    return out;
  }

  #advance(): void {
    if ((this.register(PCA9685_REG.MODE1) & MODE1.AI) === 0) return;
    const pointer = this.#pointer;
    this.#pointer = pointer === LAST_LED_REGISTER || pointer >= PCA9685_REG.PRE_SCALE ? 0 : pointer + 1;
  }

  #writeRegister(address: number, value: number): void {
    const now = this.#clock.now();
    if (address === PCA9685_REG.MODE1) {
      const before = this.register(PCA9685_REG.MODE1);
      let restart = before & MODE1.RESTART;
      const sleepBefore = (before & MODE1.SLEEP) !== 0;
      const sleepAfter = (value & MODE1.SLEEP) !== 0;
      if (!sleepBefore && sleepAfter && this.#outputs.some((pulse) => pulse !== undefined))
        restart = MODE1.RESTART;
      if (sleepBefore && !sleepAfter) this.#wokeAtMs = now;
      if ((value & MODE1.RESTART) !== 0 && restart !== 0) {
        if (sleepAfter) {
          this.#violations.push("RESTART written while SLEEP is set; clear SLEEP first");
        } else {
          const awakeFor = now - this.#wokeAtMs;
          if (awakeFor < 0.5) {
            this.#violations.push(
              `RESTART written ${awakeFor.toFixed(2)} ms after waking; the oscillator needs 500 µs to stabilise`,
            );
          }
          restart = 0;
        }
      }
      const extclk = (before | value) & MODE1.EXTCLK; // sticky until reset
      this.#registers[PCA9685_REG.MODE1] = (value & ~(MODE1.RESTART | MODE1.EXTCLK)) | extclk | restart;
      return;
    }
    if (address === PCA9685_REG.PRE_SCALE) {
      if (!this.sleeping) {
        this.#violations.push(
          `PRE_SCALE write of ${hex(value)} ignored: the chip is awake (set MODE1.SLEEP first)`,
        );
        return;
      }
      this.#registers[address] = Math.max(3, value);
      return;
    }
    if (address >= PCA9685_REG.ALL_LED_ON_L && address <= PCA9685_REG.ALL_LED_OFF_H) {
      for (let channel = 0; channel < 16; channel += 1) {
        this.#registers[channelRegister(channel) + address - PCA9685_REG.ALL_LED_ON_L] = value;
      }
      this.#clearRestart();
      return;
    }
    if (address === PCA9685_REG.MODE2 || (address >= 0x02 && address <= 0x05)) {
      this.#registers[address] = value;
      return;
    }
    if (address >= PCA9685_REG.LED0_ON_L && address <= LAST_LED_REGISTER) {
      this.#registers[address] = value;
      this.#clearRestart();
      return;
    }
    this.#violations.push(`write of ${hex(value)} to reserved register ${hex(address)}`);
  }

  #clearRestart(): void {
    this.#registers[PCA9685_REG.MODE1] = this.register(PCA9685_REG.MODE1) & ~MODE1.RESTART;
  }

  /** End of transaction: outputs take their new values. */
  #stop(): void {
    const next = this.#computeOutputs();
    const atMs = this.#clock.now();
    next.forEach((pulseUs, channel) => {
      if (pulseUs === this.#outputs[channel]) return;
      for (const listener of this.#listeners) listener({ channel, pulseUs, atMs });
    });
    this.#outputs = next;
  }

  #computeOutputs(): Array<number | undefined> {
    const mode1 = this.register(PCA9685_REG.MODE1);
    const halted = (mode1 & (MODE1.SLEEP | MODE1.RESTART)) !== 0;
    const tickUs = ((this.prescale + 1) * 1e6) / this.oscillatorHz;
    return Array.from({ length: 16 }, (_, channel) => {
      if (halted) return undefined;
      const base = channelRegister(channel);
      const onH = this.register(base + 1);
      const offH = this.register(base + 3);
      if ((offH & LED_FULL) !== 0) return undefined;
      if ((onH & LED_FULL) !== 0) return 4096 * tickUs;
      const on = ((onH & 0x0f) << 8) | this.register(base);
      const off = ((offH & 0x0f) << 8) | this.register(base + 2);
      const ticks = (off - on + 4096) % 4096;
      return ticks === 0 ? undefined : ticks * tickUs;
    });
  }
}
