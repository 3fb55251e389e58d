import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { type Clock, systemClock } from "@skittlesorter/core";
import type { SysfsFs } from "./sysfs.ts";

export interface FakePwmChannelState {
  periodNs: number;
  dutyCycleNs: number;
  enabled: boolean;
  polarity: "normal" | "inversed";
}

export interface PwmOutputChange {
  chip: number;
  channel: number;
  /** The pulse now on the pin, or undefined for none. */
  pulseUs: number | undefined;
  atMs: number;
}

export interface FakePwmChip {
  chip: number;
  npwm: number;
  /**
   * Device path (as under `/sys/devices`) the chip's `device` symlink points to, e.g.
   * `platform/soc/fe20c000.pwm`; created under `<root>/.devices/`. Default: no `device` link.
   */
  device?: string | undefined;
}

/**
 * `/sys/class/pwm` as Raspberry Pis with the pwm-2chan overlay show it. Chip numbers are not stable: on a Pi 5 the RP1
 * PWM (GPIO12/13/18/19) is pwmchip2 with kernel 6.6 (beside the fan's pwmchip0 and pwmchip6) and pwmchip0 with 6.12
 * (raspberrypi/linux issue #6818). The 6.12 numbering of the other two chips is illustrative.
 */
export const RASPBERRY_PI_PWM_LAYOUTS = {
  pi4: [{ chip: 0, npwm: 2, device: "platform/soc/fe20c000.pwm" }],
  "pi5-kernel-6.6": [
    { chip: 0, npwm: 4, device: "platform/axi/107d517a80.pwm" },
    { chip: 2, npwm: 4, device: "platform/axi/1000120000.pcie/1f00098000.pwm" },
    { chip: 6, npwm: 4, device: "platform/axi/1000120000.pcie/1f0009c000.pwm" },
  ],
  "pi5-kernel-6.12": [
    { chip: 0, npwm: 4, device: "platform/axi/1000120000.pcie/1f00098000.pwm" },
    { chip: 1, npwm: 4, device: "platform/axi/107d517a80.pwm" },
    { chip: 2, npwm: 4, device: "platform/axi/1000120000.pcie/1f0009c000.pwm" },
  ],
} as const satisfies Record<string, readonly FakePwmChip[]>;

export interface FakeSysfsPwmOptions {
  /** An empty directory to build the tree in (e.g. a temp dir); pass it as the driver's `root`. */
  root: string;
  /**
   * The chips to create. Default: a Raspberry Pi 4 with the pwm-2chan overlay (`RASPBERRY_PI_PWM_LAYOUTS.pi4`: chip 0,
   * 2 channels, device `fe20c000.pwm`).
   */
  chips?: readonly FakePwmChip[] | undefined;
  clock?: Clock | undefined;
  /** Writes to a freshly exported channel fail with EACCES for this long, like udev applying permissions. */
  exportAccessDelayMs?: number | undefined;
}

const ERRNO: Record<string, [number, string]> = {
  EINVAL: [22, "invalid argument"],
  EBUSY: [16, "resource busy or locked"],
  EACCES: [13, "permission denied"],
  ENOENT: [2, "no such file or directory"],
};

function sysError(code: string, syscall: string, path: string): Error {
  const [errno, text] = ERRNO[code] ?? [5, "i/o error"];
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), {
    code,
    errno: -errno,
    syscall,
    path,
  });
}

/**
 * A fake `/sys/class/pwm` in a directory: real files you can inspect, plus an {@link SysfsFs} that applies the kernel's
 * rules on write (export creates `pwmN/`, duty ≤ period, enable needs a period, EBUSY/EINVAL like the PWM core).
 * Give the driver both `root` and `fs`.
 */
export async function createFakeSysfsPwm(options: FakeSysfsPwmOptions): Promise<FakeSysfsPwm> {
  const fake = new FakeSysfsPwm(options);
  await fake.init();
  return fake;
}

export class FakeSysfsPwm {
  readonly root: string;
  /** Hand this to the driver as `fs`. */
  readonly fs: SysfsFs;
  readonly #chips: readonly FakePwmChip[];
  readonly #clock: Clock;
  readonly #accessDelayMs: number;
  readonly #channels = new Map<string, FakePwmChannelState & { exportedAtMs: number }>();
  readonly #listeners = new Set<(change: PwmOutputChange) => void>();
  readonly #writes: Array<{ path: string; value: string; atMs: number }> = [];

  constructor(options: FakeSysfsPwmOptions) {
    this.root = options.root;
    this.#chips = options.chips ?? RASPBERRY_PI_PWM_LAYOUTS.pi4;
    this.#clock = options.clock ?? systemClock;
    this.#accessDelayMs = options.exportAccessDelayMs ?? 0;
    this.fs = {
      readFile: (path) => readFile(path, "utf8"),
      writeFile: (path, data) => this.#write(path, data),
    };
  }

  /** Creates the chip directories; {@link createFakeSysfsPwm} calls it. */
  async init(): Promise<void> {
    for (const { chip, npwm, device } of this.#chips) {
      const dir = join(this.root, `pwmchip${chip}`);
      await mkdir(dir, { recursive: true });
      if (device !== undefined) {
        const target = join(this.root, ".devices", device);
        await mkdir(target, { recursive: true });
        await symlink(relative(dir, target), join(dir, "device"));
      }
      await writeFile(join(dir, "npwm"), `${npwm}\n`);
      await writeFile(join(dir, "export"), "");
      await writeFile(join(dir, "unexport"), "");
    }
  }

  /** Every successful write, relative to the root (`pwmchip0/pwm1/duty_cycle`), in order. */
  get writes(): ReadonlyArray<{ path: string; value: string; atMs: number }> {
    return this.#writes;
  }

  /** A channel's kernel state, or undefined while it is not exported. */
  channel(chip: number, channel: number): FakePwmChannelState | undefined {
    const state = this.#channels.get(`${chip}/${channel}`);
    if (state === undefined) return undefined;
    const { exportedAtMs: _, ...rest } = state;
    return rest;
  }

  /** The pulse width on the pin, or undefined when the channel is not putting out pulses. */
  pulseUs(chip: number, channel: number): number | undefined {
    const state = this.#channels.get(`${chip}/${channel}`);
    if (state === undefined || !state.enabled || state.dutyCycleNs === 0 || state.periodNs === 0)
      return undefined;
    const highNs = state.polarity === "normal" ? state.dutyCycleNs : state.periodNs - state.dutyCycleNs;
    return highNs / 1000;
  }

  /** Calls `listener` whenever a pin's pulse width changes. Returns an unsubscribe function. */
  onOutputChange(listener: (change: PwmOutputChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #write(path: string, data: string): Promise<void> {
    const rel = relative(this.root, path);
    if (rel.startsWith("..")) {
      await writeFile(path, data);
      return;
    }
    const parts = rel.split(sep);
    const chipMatch = /^pwmchip(\d+)$/.exec(parts[0] ?? "");
    const chipInfo = this.#chips.find((c) => `pwmchip${c.chip}` === parts[0]);
    if (chipMatch === null || chipInfo === undefined) throw sysError("ENOENT", "open", path);
    const value = data.trim();
    const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    const { chip, npwm } = chipInfo;
    const chipDir = join(this.root, `pwmchip${chip}`);

    if (parts.length === 2) {
      const [, file] = parts;
      if (file === "export" || file === "unexport") {
        if (!Number.isInteger(number) || number >= npwm) throw sysError("EINVAL", "write", path);
        const key = `${chip}/${number}`;
        if (file === "export") {
          if (this.#channels.has(key)) throw sysError("EBUSY", "write", path);
          const state = {
            periodNs: 0,
            dutyCycleNs: 0,
            enabled: false,
            polarity: "normal" as const,
            exportedAtMs: this.#clock.now(),
          };
          this.#channels.set(key, state);
          await mkdir(join(chipDir, `pwm${number}`), { recursive: true });
          await this.#mirror(chip, number);
        } else {
          if (!this.#channels.has(key)) throw sysError("EINVAL", "write", path);
          const before = this.pulseUs(chip, number);
          this.#channels.delete(key);
          await rm(join(chipDir, `pwm${number}`), { recursive: true, force: true });
          this.#emit(chip, number, before);
        }
        this.#log(rel, value);
        return;
      }
      throw sysError(file === "npwm" ? "EACCES" : "ENOENT", "open", path);
    }

    const channelMatch = /^pwm(\d+)$/.exec(parts[1] ?? "");
    const channel = Number(channelMatch?.[1]);
    const state = this.#channels.get(`${chip}/${channel}`);
    const file = parts[2];
    if (channelMatch === null || state === undefined || parts.length !== 3)
      throw sysError("ENOENT", "open", path);
    if (this.#clock.now() - state.exportedAtMs < this.#accessDelayMs) throw sysError("EACCES", "open", path);
    const before = this.pulseUs(chip, channel);
    switch (file) {
      case "period":
        if (!Number.isInteger(number) || number < state.dutyCycleNs || (state.enabled && number === 0)) {
          throw sysError("EINVAL", "write", path);
        }
        state.periodNs = number;
        break;
      case "duty_cycle":
        if (!Number.isInteger(number) || number > state.periodNs) throw sysError("EINVAL", "write", path);
        state.dutyCycleNs = number;
        break;
      case "enable":
        if (value !== "0" && value !== "1") throw sysError("EINVAL", "write", path);
        if (value === "1" && state.periodNs === 0) throw sysError("EINVAL", "write", path);
        state.enabled = value === "1";
        break;
      case "polarity":
        if (value !== "normal" && value !== "inversed") throw sysError("EINVAL", "write", path);
        if (state.enabled) throw sysError("EBUSY", "write", path);
        state.polarity = value;
        break;
      default:
        throw sysError("ENOENT", "open", path);
    }
    await this.#mirror(chip, channel);
    this.#log(rel, value);
    this.#emit(chip, channel, before);
  }

  #log(path: string, value: string): void {
    this.#writes.push({ path: path.split(sep).join("/"), value, atMs: this.#clock.now() });
  }

  async #mirror(chip: number, channel: number): Promise<void> {
    const state = this.#channels.get(`${chip}/${channel}`);
    if (state === undefined) return;
    const dir = join(this.root, `pwmchip${chip}`, `pwm${channel}`);
    await writeFile(join(dir, "period"), `${state.periodNs}\n`);
    await writeFile(join(dir, "duty_cycle"), `${state.dutyCycleNs}\n`);
    await writeFile(join(dir, "enable"), state.enabled ? "1\n" : "0\n");
    await writeFile(join(dir, "polarity"), `${state.polarity}\n`);
  }

  #emit(chip: number, channel: number, before: number | undefined): void {
    const pulseUs = this.pulseUs(chip, channel);
    if (pulseUs === before) return;
    const change = { chip, channel, pulseUs, atMs: this.#clock.now() };
    for (const listener of this.#listeners) listener(change);
  }
}
