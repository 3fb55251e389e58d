import { REFERENCE_READINGS, type RgbcLike } from "@skittlesorter/classifier";
import { createSkittleGenerator, seededRandom } from "@skittlesorter/classifier/emulator";
import type { Clock } from "@skittlesorter/core";
import { FakeI2cBus } from "@skittlesorter/i2c/emulator";
import { type ServoCalibration, ServoMotion } from "@skittlesorter/servo";
import { Pca9685Emulator } from "@skittlesorter/servo/emulator";
import type { Rgbc } from "@skittlesorter/tcs34725";
import { lightForCounts, Tcs34725Emulator } from "@skittlesorter/tcs34725/emulator";

/** What can come out of the hopper: a Skittle, nothing (`"none"`: a gap), or a foreign object (`"unknown"`). */
export type RigItem = "red" | "green" | "orange" | "yellow" | "purple" | "none" | "unknown";

const COLORS = ["red", "green", "orange", "yellow", "purple"] as const;

/** Counts a foreign object (a blue button) reads as: far from every Skittle colour. */
const FOREIGN_OBJECT: RgbcLike = { clear: 20000, red: 3000, green: 6000, blue: 11000 };

/** Reference readings are at ATIME 0xC0 (153.6 ms) and 16× gain. */
const REFERENCE_SETTINGS = { integrationTimeMs: 153.6, gain: 16 as const };

export interface RigServo {
  channel: number;
  /** The physical servo: pulse range and its real speed. */
  calibration: Partial<ServoCalibration>;
  /** Where the horn is at power-up. */
  initialAngleDeg: number;
}

export interface EmulatedRigOptions {
  clock: Clock;
  /** The arm's positions: under the hopper, under the sensor, over the chute. */
  positions: { pick: number; detect: number; drop: number };
  /** The physical bins: name → chute angle. Names are the colour names plus e.g. `Reject`. */
  bins: Readonly<Record<string, number>>;
  /** Which bin each item belongs in (e.g. `red → Red`, `unknown → Reject`). */
  expectedBin: (item: RigItem) => string;
  pick: RigServo;
  chute: RigServo;
  /** The hopper's contents, in order. */
  items: readonly RigItem[];
  /** Seeds candy-to-candy colour variation and sensor noise. Default 1. */
  seed?: number | undefined;
  /** The sensor sees the slot while the arm is within ± half of this of the detect angle. Default 8°. */
  sensorFieldOfViewDeg?: number | undefined;
  /** A skittle loads / drops when the arm is this close to the pick / drop angle. Default 1°. */
  positionToleranceDeg?: number | undefined;
  /** A dropped skittle lands in a bin when the chute is this close to the bin's angle. Default 2°. */
  binToleranceDeg?: number | undefined;
  /** Sensor read noise per channel (1σ fraction). Default 0.005. */
  sensorNoise?: number | undefined;
  /** I2C addresses. Defaults 0x29 and 0x40. */
  sensorAddress?: number | undefined;
  servoAddress?: number | undefined;
  /** The emulated PCA9685's real oscillator (the configured, calibrated one). Default 25 MHz. */
  servoOscillatorHz?: number | undefined;
}

export interface RigDrop {
  /** Position in the hopper (0-based). */
  index: number;
  item: RigItem;
  /** Where it landed: a bin name, or `floor` (the chute pointed between bins). */
  bin: string;
  expectedBin: string;
  correct: boolean;
  atMs: number;
}

export interface RigReport {
  /** Items taken from the hopper (gaps included). */
  fed: number;
  /** Objects that landed somewhere. */
  sorted: number;
  correct: number;
  misplaced: number;
  /** correct / sorted (1 when nothing was sorted). */
  accuracy: number;
  /** Sorted objects per minute of rig time, first pick to last drop. */
  skittlesPerMinute: number;
  elapsedMs: number;
  /** Items still in the hopper or in the arm. */
  remaining: number;
  /** Bin name → item → count. */
  bins: Record<string, Record<string, number>>;
  drops: RigDrop[];
}

/** A servo horn's position over time, keeping history so past instants can be asked about (sensor integrations). */
class TrackedServo {
  readonly #calibration: Partial<ServoCalibration>;
  readonly #segments: { fromMs: number; motion: ServoMotion }[];

  constructor(calibration: Partial<ServoCalibration>, initialAngleDeg: number) {
    this.#calibration = calibration;
    this.#segments = [
      { fromMs: Number.NEGATIVE_INFINITY, motion: new ServoMotion(calibration, { initialAngleDeg }) },
    ];
  }

  command(pulseUs: number | undefined, atMs: number): void {
    const here = this.angleAt(atMs);
    const motion = new ServoMotion(this.#calibration, { initialAngleDeg: here });
    motion.commandPulse(pulseUs, atMs);
    this.#segments.push({ fromMs: atMs, motion });
    if (this.#segments.length > 64) this.#segments.splice(1, this.#segments.length - 64);
  }

  angleAt(atMs: number): number | undefined {
    for (let index = this.#segments.length - 1; index >= 0; index -= 1) {
      const segment = this.#segments[index];
      if (segment !== undefined && segment.fromMs <= atMs) return segment.motion.angleAt(atMs);
    }
    return this.#segments[0]?.motion.angleAt(atMs);
  }
}

interface Carried {
  index: number;
  item: Exclude<RigItem, "none">;
  light: Rgbc;
  fromMs: number;
  toMs: number | undefined;
}

const STEP_MS = 0.5;

/**
 * The emulated sorter: a {@link FakeI2cBus} with a TCS34725 emulator and a PCA9685 emulator, a hopper of items of
 * known colours, an arm and a chute whose horns move at the physical servos' speed (`ServoMotion`), and one virtual
 * bin per chute position. An item loads when the arm reaches the pick position, the sensor sees it only while the
 * arm is at the detect position, and it falls where the chute points when the arm reaches the drop position, so
 * reading too early, or dropping before the chute arrives, puts it in the wrong bin.
 */
export class EmulatedRig {
  readonly bus: FakeI2cBus;
  readonly sensorChip: Tcs34725Emulator;
  readonly servoChip: Pca9685Emulator;
  readonly #options: EmulatedRigOptions;
  readonly #clock: Clock;
  readonly #pick: TrackedServo;
  readonly #chute: TrackedServo;
  readonly #items: readonly RigItem[];
  readonly #lights: (Rgbc | undefined)[];
  readonly #background: Rgbc;
  readonly #carried: Carried[] = [];
  readonly #drops: RigDrop[] = [];
  #next = 0;
  #simulatedToMs: number;
  #atPickVisitUsed = false;
  #firstPickMs: number | undefined;

  constructor(options: EmulatedRigOptions) {
    this.#options = options;
    this.#clock = options.clock;
    this.#items = [...options.items];
    const random = seededRandom(options.seed ?? 1);
    const generator = createSkittleGenerator({
      random,
      references: { ...REFERENCE_READINGS, unknown: FOREIGN_OBJECT },
      brightnessSpread: 0.1,
      colorSpread: 0.015,
    });
    const toLight = (counts: RgbcLike): Rgbc =>
      lightForCounts(
        { clear: counts.clear, red: counts.red, green: counts.green, blue: counts.blue },
        REFERENCE_SETTINGS,
      );
    this.#lights = this.#items.map((item) =>
      item === "none" ? undefined : toLight(generator.skittle(item)),
    );
    this.#background = toLight(REFERENCE_READINGS.empty);
    this.#pick = new TrackedServo(options.pick.calibration, options.pick.initialAngleDeg);
    this.#chute = new TrackedServo(options.chute.calibration, options.chute.initialAngleDeg);
    this.#simulatedToMs = this.#clock.now();

    this.bus = new FakeI2cBus({ clock: this.#clock });
    const noise = options.sensorNoise ?? 0.005;
    this.sensorChip = new Tcs34725Emulator({
      clock: this.#clock,
      ...(noise > 0 ? { noise: { fraction: noise, random } } : {}),
    });
    this.sensorChip.setLightSource((atMs) => this.#lightAt(atMs));
    this.servoChip = new Pca9685Emulator({
      clock: this.#clock,
      oscillatorHz: options.servoOscillatorHz,
    });
    this.servoChip.onOutputChange(({ channel, pulseUs, atMs }) => {
      this.#advanceTo(atMs);
      if (channel === options.pick.channel) this.#pick.command(pulseUs, atMs);
      if (channel === options.chute.channel) this.#chute.command(pulseUs, atMs);
    });
    this.bus.attach(options.sensorAddress ?? 0x29, this.sensorChip);
    this.bus.attach(options.servoAddress ?? 0x40, this.servoChip);
  }

  /** Items not yet taken by the arm. */
  get remaining(): number {
    return this.#items.length - this.#next;
  }

  /** What the rig did so far. */
  report(): RigReport {
    this.#advanceTo(this.#clock.now());
    const bins: Record<string, Record<string, number>> = {};
    for (const drop of this.#drops) {
      const bin = bins[drop.bin] ?? {};
      bins[drop.bin] = bin;
      bin[drop.item] = (bin[drop.item] ?? 0) + 1;
    }
    const correct = this.#drops.filter((drop) => drop.correct).length;
    const sorted = this.#drops.length;
    const last = this.#drops.at(-1)?.atMs;
    const elapsedMs = last !== undefined && this.#firstPickMs !== undefined ? last - this.#firstPickMs : 0;
    const inArm = this.#carried.filter((carried) => carried.toMs === undefined).length;
    return {
      fed: this.#next,
      sorted,
      correct,
      misplaced: sorted - correct,
      accuracy: sorted === 0 ? 1 : correct / sorted,
      skittlesPerMinute: elapsedMs > 0 ? (sorted * 60_000) / elapsedMs : 0,
      elapsedMs,
      remaining: this.remaining + inArm,
      bins,
      drops: [...this.#drops],
    };
  }

  #near(angle: number | undefined, target: number, tolerance: number): boolean {
    return angle !== undefined && Math.abs(angle - target) <= tolerance;
  }

  #inArm(): Carried | undefined {
    const last = this.#carried.at(-1);
    return last !== undefined && last.toMs === undefined ? last : undefined;
  }

  #advanceTo(untilMs: number): void {
    const tolerance = this.#options.positionToleranceDeg ?? 1;
    const { pick, drop } = this.#options.positions;
    let t = this.#simulatedToMs;
    while (t + STEP_MS <= untilMs) {
      t += STEP_MS;
      const arm = this.#pick.angleAt(t);
      const atPick = this.#near(arm, pick, tolerance);
      if (!atPick) this.#atPickVisitUsed = false;
      if (
        atPick &&
        !this.#atPickVisitUsed &&
        this.#inArm() === undefined &&
        this.#next < this.#items.length
      ) {
        this.#atPickVisitUsed = true;
        this.#firstPickMs ??= t;
        const index = this.#next;
        this.#next += 1;
        const item = this.#items[index];
        const light = this.#lights[index];
        if (item !== undefined && item !== "none" && light !== undefined) {
          this.#carried.push({ index, item, light, fromMs: t, toMs: undefined });
        }
      }
      const carried = this.#inArm();
      if (carried !== undefined && this.#near(arm, drop, tolerance)) {
        carried.toMs = t;
        const bin = this.#binAt(this.#chute.angleAt(t));
        const expectedBin = this.#options.expectedBin(carried.item);
        const expectedAngle = this.#options.bins[expectedBin];
        const landedAngle = this.#options.bins[bin];
        this.#drops.push({
          index: carried.index,
          item: carried.item,
          bin,
          expectedBin,
          correct: bin === expectedBin || (landedAngle !== undefined && landedAngle === expectedAngle),
          atMs: t,
        });
      }
    }
    this.#simulatedToMs = t;
    if (this.#carried.length > 256) this.#carried.splice(0, this.#carried.length - 256);
  }

  #binAt(chuteAngle: number | undefined): string {
    if (chuteAngle === undefined) return "floor";
    const tolerance = this.#options.binToleranceDeg ?? 2;
    let best: { name: string; distance: number } | undefined;
    for (const [name, angle] of Object.entries(this.#options.bins)) {
      const distance = Math.abs(angle - chuteAngle);
      if (distance <= tolerance && (best === undefined || distance < best.distance))
        best = { name, distance };
    }
    return best?.name ?? "floor";
  }

  /** The light the sensor sees at `atMs`: the item in the slot while the arm is at the detect position, else the disc. */
  #lightAt(atMs: number): Rgbc {
    this.#advanceTo(atMs);
    const arm = this.#pick.angleAt(atMs);
    const halfView = (this.#options.sensorFieldOfViewDeg ?? 8) / 2;
    if (!this.#near(arm, this.#options.positions.detect, halfView)) return this.#background;
    for (let index = this.#carried.length - 1; index >= 0; index -= 1) {
      const carried = this.#carried[index];
      if (carried === undefined) continue;
      if (carried.fromMs <= atMs && (carried.toMs === undefined || atMs < carried.toMs)) return carried.light;
      if (carried.toMs !== undefined && carried.toMs <= atMs) break;
    }
    return this.#background;
  }
}

/** `count` items: the given sequence cycled (original `MockColorSequence` names), or random colours from `seed`. */
export function rigItems(
  count: number,
  options: { sequence?: readonly string[] | undefined; seed?: number | undefined } = {},
): RigItem[] {
  const { sequence } = options;
  if (sequence !== undefined && sequence.length > 0) {
    return Array.from({ length: count }, (_, index) =>
      toRigItem(sequence[index % sequence.length] ?? "none"),
    );
  }
  const random = seededRandom((options.seed ?? 1) + 7919);
  return Array.from({ length: count }, () => COLORS[Math.floor(random() * COLORS.length)] ?? "red");
}

function toRigItem(name: string): RigItem {
  const lower = name.toLowerCase();
  if (lower === "none" || lower === "empty") return "none";
  if ((COLORS as readonly string[]).includes(lower)) return lower as RigItem;
  return "unknown";
}
