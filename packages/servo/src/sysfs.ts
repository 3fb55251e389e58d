import { readdir, readFile, realpath, writeFile } from "node:fs/promises";
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
  /** Entry names of a directory; used to list the chips. Default: Node's `readdir`. */
  readdir?(path: string): Promise<string[]>;
  /** Where a symlink finally points (the chip's `device` link); default: Node's `realpath`. */
  realpath?(path: string): Promise<string>;
}

const nodeFs: Required<SysfsFs> = {
  readFile: (path) => readFile(path, "utf8"),
  writeFile: (path, data) => writeFile(path, data),
  readdir: (path) => readdir(path),
  realpath: (path) => realpath(path),
};

export interface SysfsPwmOptions extends OperationOptions {
  /**
   * The PWM chip: a number (`<root>/pwmchipN`), a chip directory, or a controller device name/path (see
   * {@link findPwmChip}). Default: the Raspberry Pi's PWM controller, found through each chip's `device` link.
   */
  chip?: number | string | undefined;
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
  "/boot/firmware/config.txt and rebooting; `ls -l /sys/class/pwm/pwmchip*/device` then lists the chip (its number " +
  "differs between models and kernels: pwmchip2 or pwmchip0 on a Pi 5).";
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
 * The PWM controllers whose channels 0 and 1 drive GPIO12 and GPIO13, by the device-tree node name their
 * `/sys/class/pwm/pwmchipN/device` link points to: Raspberry Pi 5 (RP1 PWM0), Pi 4 (BCM2711 PWM0), Pi 3 (BCM2837).
 * The chip number itself is not stable: on a Pi 5 the RP1 PWM is pwmchip2 with kernel 6.6 and pwmchip0 with 6.12.
 */
export const RASPBERRY_PI_PWM_CONTROLLERS: readonly string[] = [
  "1f00098000.pwm",
  "fe20c000.pwm",
  "3f20c000.pwm",
];

/** A PWM chip found under the sysfs root. */
export interface PwmChipInfo {
  /** N of `pwmchipN`. */
  chip: number;
  /** `<root>/pwmchipN`. */
  path: string;
  /** Where its `device` link points (e.g. `/sys/devices/platform/soc/fe20c000.pwm`); undefined without one. */
  device: string | undefined;
}

export interface FindPwmChipOptions extends OperationOptions {
  /**
   * Which chip: a number (`pwmchipN`), a chip directory (`/sys/class/pwm/pwmchip2`), or a controller (its device name
   * such as `1f00098000.pwm`, or the end of its device path such as `soc/fe20c000.pwm`). Default: the first chip
   * whose device is one of {@link RASPBERRY_PI_PWM_CONTROLLERS}.
   */
  chip?: number | string | undefined;
  /** Default `/sys/class/pwm`. */
  root?: string | undefined;
  fs?: SysfsFs | undefined;
}

/** Every `pwmchipN` under `root`, with its device link, by chip number. Empty when `root` does not exist. */
export async function listPwmChips(options: Pick<FindPwmChipOptions, "root" | "fs" | "signal"> = {}) {
  const { root = "/sys/class/pwm", signal } = options;
  const fs = { ...nodeFs, ...options.fs };
  signal?.throwIfAborted();
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch (error) {
    if (osCode(error) === "ENOENT") return [];
    throw fsError(error, "listing", root);
  }
  const chips: PwmChipInfo[] = [];
  for (const name of names) {
    const match = /^pwmchip(\d+)$/.exec(name);
    if (match === null) continue;
    const path = `${root}/${name}`;
    const device = await fs.realpath(`${path}/device`).catch(() => undefined);
    chips.push({ chip: Number(match[1]), path, device });
  }
  return chips.sort((a, b) => a.chip - b.chip);
}

function deviceMatches(device: string | undefined, controller: string): boolean {
  if (device === undefined) return false;
  const wanted = controller.replace(/\/+$/, "");
  return device === wanted || device.endsWith(`/${wanted.replace(/^\/+/, "")}`);
}

function describeChips(chips: readonly PwmChipInfo[], root: string): string {
  if (chips.length === 0) return `${root} lists no PWM chips.`;
  const list = chips
    .map(
      ({ chip, device }) =>
        `pwmchip${chip} (${device === undefined ? "no device link" : `device ${device}`})`,
    )
    .join(", ");
  return `${root} lists: ${list}.`;
}

/**
 * Finds the PWM chip directory to drive, by device rather than by number (numbers change between kernels). Throws
 * `SERVO_PWM_UNAVAILABLE` listing the chips found when none matches.
 */
export async function findPwmChip(options: FindPwmChipOptions = {}): Promise<PwmChipInfo> {
  const { root = "/sys/class/pwm", chip, signal } = options;
  signal?.throwIfAborted();
  if (typeof chip === "number") {
    if (!Number.isInteger(chip) || chip < 0) {
      throw new ServoError(
        "SERVO_INVALID_OPTION",
        `chip must be a non-negative integer, got ${String(chip)}.`,
      );
    }
    return { chip, path: `${root}/pwmchip${chip}`, device: undefined };
  }
  if (chip !== undefined && chip.trim() === "") {
    throw new ServoError(
      "SERVO_INVALID_OPTION",
      "chip is an empty string; give a chip number, a /sys/class/pwm/pwmchipN path or a controller such as 1f00098000.pwm.",
    );
  }
  const directory = chip === undefined ? undefined : /^(.*\/)?pwmchip(\d+)\/?$/.exec(chip);
  if (chip !== undefined && directory !== null && directory !== undefined) {
    return { chip: Number(directory[2]), path: chip.replace(/\/+$/, ""), device: undefined };
  }
  const chips = await listPwmChips(options);
  const wanted = chip === undefined ? RASPBERRY_PI_PWM_CONTROLLERS : [chip];
  for (const controller of wanted) {
    const found = chips.find((candidate) => deviceMatches(candidate.device, controller));
    if (found !== undefined) return found;
  }
  throw new ServoError(
    "SERVO_PWM_UNAVAILABLE",
    `No PWM chip belongs to ${chip === undefined ? `a Raspberry Pi PWM controller (${wanted.join(", ")})` : `controller "${chip}"`}. ` +
      `${describeChips(chips, root)} ${chips.length === 0 ? OVERLAY_HINT : "Pass the chip explicitly (its number, its /sys/class/pwm/pwmchipN path or its device name)."}`,
    { path: root },
  );
}

/**
 * Opens a Linux PWM chip through sysfs (`/sys/class/pwm/pwmchipN`) as a {@link ServoDriver}. Channels are exported on
 * first use; each gets period 1e9 / frequencyHz ns, then `duty_cycle` in ns and `enable` 1.
 */
export async function openSysfsPwm(options: SysfsPwmOptions = {}): Promise<SysfsPwm> {
  const { signal, frequencyHz = 50 } = options;
  signal?.throwIfAborted();
  if (!(frequencyHz > 0 && frequencyHz <= 1000)) {
    throw new ServoError(
      "SERVO_INVALID_OPTION",
      `frequencyHz must be in (0, 1000], got ${String(frequencyHz)}; servos expect 50.`,
    );
  }
  const fs = options.fs ?? nodeFs;
  const { path: chipDir } = await findPwmChip(options);
  let npwm: number;
  try {
    npwm = Number.parseInt(await fs.readFile(`${chipDir}/npwm`), 10);
  } catch (error) {
    if (osCode(error) === "ENOENT") {
      const root = options.root ?? "/sys/class/pwm";
      const found = await listPwmChips({ ...options, root }).catch(() => []);
      throw new ServoError(
        "SERVO_PWM_UNAVAILABLE",
        `PWM chip ${chipDir} does not exist; ${describeChips(found, root)} ${found.length === 0 ? OVERLAY_HINT : "Leave the chip unset to find the Raspberry Pi's PWM controller by its device, or pick one listed."}`,
        { path: chipDir, osCode: "ENOENT", cause: error },
      );
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
