import { readFile, writeFile } from "node:fs/promises";
import {
  type Clock,
  delay,
  type Logger,
  noopLogger,
  type OperationOptions,
  systemClock,
} from "@skittlesorter/core";
import { checkChannel, checkPulse, closedError, type ServoDriver } from "./driver.ts";
import { ServoError } from "./errors.ts";

/** The file access the sysfs driver needs; swap it to emulate the kernel (see `createFakeSysfsPwm`). */
export interface SysfsFs {
  readFile(path: string): Promise<string>;
  writeFile(path: string, data: string): Promise<void>;
}

const nodeFs: SysfsFs = {
  readFile: (path) => readFile(path, "utf8"),
  writeFile: (path, data) => writeFile(path, data),
};

export interface SysfsPwmOptions extends OperationOptions {
  /** The PWM chip: `<root>/pwmchip<chip>`. Default 0 (Raspberry Pi 4; check `ls /sys/class/pwm` on a Pi 5). */
  chip?: number | undefined;
  /** Default `/sys/class/pwm`. */
  root?: string | undefined;
  /** Frame rate. Default 50 Hz (period 20 000 000 ns). */
  frequencyHz?: number | undefined;
  fs?: SysfsFs | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** How long to retry while udev grants access to a freshly exported channel. Default 1000 ms. */
  exportTimeoutMs?: number | undefined;
  /** On close, disable the channels used and unexport those this driver exported. Default true. */
  releaseOnClose?: boolean | undefined;
}

interface ChannelState {
  exportedByUs: boolean;
  enabled: boolean;
  dutyNs: number | undefined;
}

const OVERLAY_HINT =
  "Enable hardware PWM on GPIO12 and GPIO13 by adding `dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4` to " +
  "/boot/firmware/config.txt and rebooting; `ls /sys/class/pwm` then lists the chip (pwmchip0 on a Pi 4; on a Pi 5 " +
  "it may have another number).";
const ACCESS_HINT =
  "Run as root, or give your user access: Raspberry Pi OS lets the gpio group use /sys/class/pwm " +
  "(`sudo usermod -aG gpio $USER`, then log in again); elsewhere add a udev rule.";

function osCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function fsError(error: unknown, action: string, path: string, channel?: number): ServoError {
  const code = osCode(error);
  const details = { path, osCode: code, channel, cause: error };
  if (code === "EACCES" || code === "EPERM") {
    return new ServoError(
      "SERVO_PERMISSION_DENIED",
      `Permission denied ${action} ${path}. ${ACCESS_HINT}`,
      details,
    );
  }
  if (code === "ENOENT") {
    return new ServoError("SERVO_PWM_UNAVAILABLE", `${path} does not exist. ${OVERLAY_HINT}`, details);
  }
  return new ServoError(
    "SERVO_IO_ERROR",
    `The kernel refused ${action} ${path} (${code ?? (error as Error).message}). Check that no other program ` +
      "drives this PWM channel and that the values are valid for the chip.",
    details,
  );
}

/**
 * Opens a Linux PWM chip through sysfs (`/sys/class/pwm/pwmchipN`) as a {@link ServoDriver}. Channels are exported on
 * first use; each gets period 1e9 / frequencyHz ns, then `duty_cycle` in ns and `enable` 1.
 */
export async function openSysfsPwm(options: SysfsPwmOptions = {}): Promise<SysfsPwm> {
  const { signal, chip = 0, root = "/sys/class/pwm", frequencyHz = 50 } = options;
  signal?.throwIfAborted();
  if (!Number.isInteger(chip) || chip < 0) {
    throw new ServoError("SERVO_INVALID_OPTION", `chip must be a non-negative integer, got ${String(chip)}.`);
  }
  if (!(frequencyHz > 0 && frequencyHz <= 1000)) {
    throw new ServoError(
      "SERVO_INVALID_OPTION",
      `frequencyHz must be in (0, 1000], got ${String(frequencyHz)}; servos expect 50.`,
    );
  }
  const fs = options.fs ?? nodeFs;
  const chipDir = `${root}/pwmchip${chip}`;
  let npwm: number;
  try {
    npwm = Number.parseInt(await fs.readFile(`${chipDir}/npwm`), 10);
  } catch (error) {
    if (osCode(error) === "ENOENT") {
      throw new ServoError("SERVO_PWM_UNAVAILABLE", `PWM chip ${chipDir} does not exist. ${OVERLAY_HINT}`, {
        path: chipDir,
        osCode: "ENOENT",
        cause: error,
      });
    }
    throw fsError(error, "reading", `${chipDir}/npwm`);
  }
  if (!(npwm > 0)) {
    throw new ServoError("SERVO_PWM_UNAVAILABLE", `${chipDir}/npwm reports no channels. ${OVERLAY_HINT}`, {
      path: `${chipDir}/npwm`,
    });
  }
  return new SysfsPwm(chipDir, npwm, frequencyHz, fs, options);
}

export class SysfsPwm implements ServoDriver {
  readonly channelCount: number;
  readonly frequencyHz: number;
  readonly resolutionUs = 0.001;
  /** The chip directory, e.g. `/sys/class/pwm/pwmchip0`. */
  readonly chipPath: string;
  readonly #periodNs: number;
  readonly #fs: SysfsFs;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #exportTimeoutMs: number;
  readonly #releaseOnClose: boolean;
  readonly #channels = new Map<number, Promise<ChannelState>>();
  #closing: Promise<void> | undefined;

  /** Use {@link openSysfsPwm}. */
  constructor(
    chipPath: string,
    channelCount: number,
    frequencyHz: number,
    fs: SysfsFs,
    options: SysfsPwmOptions,
  ) {
    this.chipPath = chipPath;
    this.channelCount = channelCount;
    this.#periodNs = Math.round(1e9 / frequencyHz);
    this.frequencyHz = 1e9 / this.#periodNs;
    this.#fs = fs;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.#exportTimeoutMs = options.exportTimeoutMs ?? 1000;
    this.#releaseOnClose = options.releaseOnClose ?? true;
  }

  /** The period written to each channel, in ns. */
  get periodNs(): number {
    return this.#periodNs;
  }

  async #write(path: string, value: string | number, channel: number): Promise<void> {
    try {
      await this.#fs.writeFile(path, String(value));
    } catch (error) {
      throw fsError(error, `writing ${String(value)} to`, path, channel);
    }
  }

  async #read(path: string, channel: number): Promise<string> {
    try {
      return (await this.#fs.readFile(path)).trim();
    } catch (error) {
      throw fsError(error, "reading", path, channel);
    }
  }

  /** Retries `run` while a freshly exported channel's files are missing or not yet writable (udev lag). */
  async #whileUdevCatchesUp<T>(run: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const deadline = this.#clock.now() + this.#exportTimeoutMs;
    for (;;) {
      try {
        return await run();
      } catch (error) {
        const code = (error as ServoError).osCode;
        if ((code !== "EACCES" && code !== "ENOENT") || this.#clock.now() >= deadline) throw error;
      }
      await delay(10, { clock: this.#clock, signal });
    }
  }

  #channel(channel: number, signal: AbortSignal | undefined): Promise<ChannelState> {
    let state = this.#channels.get(channel);
    if (state === undefined) {
      state = this.#setUp(channel, signal);
      this.#channels.set(channel, state);
      state.catch(() => this.#channels.delete(channel));
    }
    return state;
  }

  async #setUp(channel: number, signal: AbortSignal | undefined): Promise<ChannelState> {
    const dir = `${this.chipPath}/pwm${channel}`;
    let exportedByUs = false;
    const existing = await this.#read(`${dir}/period`, channel).catch((error: unknown) => {
      if ((error as ServoError).osCode === "ENOENT") return undefined;
      throw error;
    });
    if (existing === undefined) {
      try {
        await this.#fs.writeFile(`${this.chipPath}/export`, String(channel));
        exportedByUs = true;
      } catch (error) {
        if (osCode(error) !== "EBUSY")
          throw fsError(error, `exporting channel ${channel} via`, `${this.chipPath}/export`, channel);
      }
    }
    const setPeriod = async (): Promise<ChannelState> => {
      const periodNs = Number.parseInt(await this.#read(`${dir}/period`, channel), 10);
      const dutyNs = Number.parseInt(await this.#read(`${dir}/duty_cycle`, channel), 10);
      const enabled = (await this.#read(`${dir}/enable`, channel)) === "1";
      if (periodNs !== this.#periodNs) {
        // The kernel refuses a period shorter than the duty cycle, so shrink the duty cycle first.
        if (dutyNs > this.#periodNs) await this.#write(`${dir}/duty_cycle`, 0, channel);
        await this.#write(`${dir}/period`, this.#periodNs, channel);
      }
      return { exportedByUs, enabled, dutyNs: periodNs === this.#periodNs ? dutyNs : undefined };
    };
    const state = exportedByUs ? await this.#whileUdevCatchesUp(setPeriod, signal) : await setPeriod();
    this.#logger.debug("pwm channel ready", { chip: this.chipPath, channel, exportedByUs });
    return state;
  }

  async setPulseWidth(channel: number, pulseUs: number, options: OperationOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    if (this.#closing !== undefined) throw closedError(channel);
    checkChannel(channel, this.channelCount);
    checkPulse(channel, pulseUs, this.frequencyHz);
    const state = await this.#channel(channel, options.signal);
    const dutyNs = Math.round(pulseUs * 1000);
    const dir = `${this.chipPath}/pwm${channel}`;
    if (state.dutyNs !== dutyNs) {
      await this.#write(`${dir}/duty_cycle`, dutyNs, channel);
      state.dutyNs = dutyNs;
    }
    if (!state.enabled) {
      await this.#write(`${dir}/enable`, 1, channel);
      state.enabled = true;
    }
  }

  async release(channel: number, options: OperationOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    if (this.#closing !== undefined) throw closedError(channel);
    checkChannel(channel, this.channelCount);
    const state = await this.#channels.get(channel);
    if (state?.enabled) {
      await this.#write(`${this.chipPath}/pwm${channel}/enable`, 0, channel);
      state.enabled = false;
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (!this.#releaseOnClose) return;
      for (const [channel, pending] of this.#channels) {
        const state = await pending.catch(() => undefined);
        if (state === undefined) continue;
        if (state.enabled) await this.#write(`${this.chipPath}/pwm${channel}/enable`, 0, channel);
        if (state.exportedByUs) await this.#write(`${this.chipPath}/unexport`, channel, channel);
      }
    })();
    return this.#closing;
  }
}
