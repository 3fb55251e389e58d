import {
  type Clock,
  delay,
  type Logger,
  noopLogger,
  type OperationOptions,
  systemClock,
} from "@skittlesorter/core";
import { checkChannel, type ServoDriver } from "./driver.ts";
import { ServoError } from "./errors.ts";

/** How one physical servo maps angle to pulse width, and how fast it moves. */
export interface ServoCalibration {
  /** Pulse width at 0°. */
  minPulseUs: number;
  /** Pulse width at `rangeDeg`. May be below `minPulseUs` to reverse the direction. */
  maxPulseUs: number;
  /** Angle at `maxPulseUs`. */
  rangeDeg: number;
  /** Speed: seconds per 60° of travel, as servo data sheets state it (at the supply voltage used). */
  secondsPer60Deg: number;
  /** Added to every move for the horn to stop ringing. */
  settleMs: number;
}

/** The original sorter's servos: 700–2400 µs over 180°; a conservative hobby-servo speed (SG90 data sheets say 0.1 s/60°). */
export const DEFAULT_SERVO_CALIBRATION: Readonly<ServoCalibration> = Object.freeze({
  minPulseUs: 700,
  maxPulseUs: 2400,
  rangeDeg: 180,
  secondsPer60Deg: 0.2,
  settleMs: 0,
});

/** Validates and completes a calibration. */
export function servoCalibration(overrides: Partial<ServoCalibration> = {}): Readonly<ServoCalibration> {
  const calibration = { ...DEFAULT_SERVO_CALIBRATION, ...overrides };
  const { minPulseUs, maxPulseUs, rangeDeg, secondsPer60Deg, settleMs } = calibration;
  const problems: string[] = [];
  if (!(minPulseUs > 0) || !(maxPulseUs > 0) || minPulseUs === maxPulseUs) {
    problems.push(
      `minPulseUs and maxPulseUs must be positive and differ (got ${minPulseUs} and ${maxPulseUs})`,
    );
  }
  if (!(rangeDeg > 0 && rangeDeg <= 360)) problems.push(`rangeDeg must be in (0, 360] (got ${rangeDeg})`);
  if (!(secondsPer60Deg >= 0)) problems.push(`secondsPer60Deg must be ≥ 0 (got ${secondsPer60Deg})`);
  if (!(settleMs >= 0)) problems.push(`settleMs must be ≥ 0 (got ${settleMs})`);
  if (problems.length > 0) {
    throw new ServoError("SERVO_INVALID_OPTION", `Invalid servo calibration: ${problems.join("; ")}.`);
  }
  return Object.freeze(calibration);
}

function checkAngle(angleDeg: number, calibration: ServoCalibration): void {
  if (!Number.isFinite(angleDeg) || angleDeg < 0 || angleDeg > calibration.rangeDeg) {
    throw new ServoError(
      "SERVO_ANGLE_OUT_OF_RANGE",
      `Angle ${String(angleDeg)}° is outside this servo's range of 0 to ${calibration.rangeDeg}°. ` +
        "Fix the position in the configuration, or widen rangeDeg together with the pulse limits.",
    );
  }
}

/** Pulse width for an angle: linear from `minPulseUs` at 0° to `maxPulseUs` at `rangeDeg`. */
export function angleToPulseUs(angleDeg: number, calibration: ServoCalibration): number {
  checkAngle(angleDeg, calibration);
  const { minPulseUs, maxPulseUs, rangeDeg } = calibration;
  return minPulseUs + ((maxPulseUs - minPulseUs) * angleDeg) / rangeDeg;
}

/** Angle for a pulse width (the inverse of {@link angleToPulseUs}; not clamped). */
export function pulseUsToAngle(pulseUs: number, calibration: ServoCalibration): number {
  const { minPulseUs, maxPulseUs, rangeDeg } = calibration;
  return ((pulseUs - minPulseUs) / (maxPulseUs - minPulseUs)) * rangeDeg;
}

/**
 * Time to travel from `fromDeg` to `toDeg` and settle. An unknown start (undefined) is taken as the worst case,
 * a full-range move.
 */
export function travelTimeMs(
  fromDeg: number | undefined,
  toDeg: number,
  calibration: ServoCalibration,
): number {
  const distance = fromDeg === undefined ? calibration.rangeDeg : Math.abs(toDeg - fromDeg);
  return (distance / 60) * calibration.secondsPer60Deg * 1000 + calibration.settleMs;
}

export interface ServoOptions extends Partial<ServoCalibration> {
  /** For log lines, e.g. "feeder". */
  name?: string | undefined;
  /** Where the horn is known to be at start; default unknown. */
  initialAngleDeg?: number | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
}

export interface MoveOptions extends OperationOptions {
  /** Wait for the modelled travel time before resolving. Default true. */
  wait?: boolean | undefined;
}

export interface MoveResult {
  pulseUs: number;
  /** Modelled travel + settle time of this move. */
  travelTimeMs: number;
}

/** One servo on one channel of a {@link ServoDriver}: angles in, pulses out, with a travel-time model. */
export class Servo {
  readonly channel: number;
  readonly name: string;
  readonly calibration: Readonly<ServoCalibration>;
  readonly #driver: ServoDriver;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #angleDeg: number | undefined;

  constructor(driver: ServoDriver, channel: number, options: ServoOptions = {}) {
    const { name, initialAngleDeg, clock, logger, ...overrides } = options;
    checkChannel(channel, driver.channelCount);
    this.#driver = driver;
    this.channel = channel;
    this.name = name ?? `servo ${channel}`;
    this.calibration = servoCalibration(overrides);
    this.#clock = clock ?? systemClock;
    this.#logger = logger ?? noopLogger;
    if (initialAngleDeg !== undefined) checkAngle(initialAngleDeg, this.calibration);
    this.#angleDeg = initialAngleDeg;
  }

  /** The last commanded angle, or undefined before the first move and after {@link release}. */
  get angleDeg(): number | undefined {
    return this.#angleDeg;
  }

  /** Modelled time from `fromDeg` (undefined: unknown, e.g. `servo.angleDeg` before the first move) to `toDeg`. */
  travelTimeMs(fromDeg: number | undefined, toDeg: number): number {
    if (fromDeg !== undefined) checkAngle(fromDeg, this.calibration);
    checkAngle(toDeg, this.calibration);
    return travelTimeMs(fromDeg, toDeg, this.calibration);
  }

  /** Commands `angleDeg` and (unless `wait: false`) waits the modelled travel time. */
  async moveTo(angleDeg: number, options: MoveOptions = {}): Promise<MoveResult> {
    const { signal, wait = true } = options;
    signal?.throwIfAborted();
    const pulseUs = angleToPulseUs(angleDeg, this.calibration);
    const travel = travelTimeMs(this.#angleDeg, angleDeg, this.calibration);
    await this.#driver.setPulseWidth(this.channel, pulseUs, { signal });
    this.#logger.debug("servo move", { servo: this.name, angleDeg, pulseUs, travelTimeMs: travel });
    this.#angleDeg = angleDeg;
    if (wait && travel > 0) await delay(travel, { clock: this.#clock, signal });
    return { pulseUs, travelTimeMs: travel };
  }

  /** Stops the pulses; the position becomes unknown. */
  async release(options: OperationOptions = {}): Promise<void> {
    await this.#driver.release(this.channel, options);
    this.#angleDeg = undefined;
  }
}

/** A {@link Servo} on `channel` of `driver`. */
export function createServo(driver: ServoDriver, channel: number, options: ServoOptions = {}): Servo {
  return new Servo(driver, channel, options);
}

/**
 * Where a physical servo's horn is over time, for emulated rigs: it moves at the calibrated speed from wherever it
 * is towards the latest target. Feed it the pulses an emulator outputs.
 */
export class ServoMotion {
  readonly calibration: Readonly<ServoCalibration>;
  #fromDeg: number | undefined;
  #targetDeg: number | undefined;
  #commandedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    calibration: Partial<ServoCalibration> = {},
    options: { initialAngleDeg?: number | undefined } = {},
  ) {
    this.calibration = servoCalibration(calibration);
    this.#fromDeg = options.initialAngleDeg;
    this.#targetDeg = options.initialAngleDeg;
  }

  /** Degrees per millisecond. */
  get #speed(): number {
    return this.calibration.secondsPer60Deg === 0
      ? Number.POSITIVE_INFINITY
      : 60 / (this.calibration.secondsPer60Deg * 1000);
  }

  /** When the horn reaches (reached) the current target; undefined while released. */
  get arrivalMs(): number | undefined {
    if (this.#targetDeg === undefined) return undefined;
    const distance =
      this.#fromDeg === undefined ? this.calibration.rangeDeg : Math.abs(this.#targetDeg - this.#fromDeg);
    return this.#commandedAtMs + distance / this.#speed;
  }

  /** The horn's angle at `atMs`, or undefined while unknown (never commanded, or still on a blind first move). */
  angleAt(atMs: number): number | undefined {
    const target = this.#targetDeg;
    if (target === undefined) return this.#fromDeg;
    const arrival = this.arrivalMs ?? atMs;
    if (atMs >= arrival) return target;
    const from = this.#fromDeg;
    if (from === undefined) return undefined;
    const moved = (atMs - this.#commandedAtMs) * this.#speed;
    return from + Math.sign(target - from) * moved;
  }

  /** A new target angle from `atMs` on; undefined releases the servo (it stays where it is). */
  command(targetDeg: number | undefined, atMs: number): void {
    const here = this.angleAt(atMs);
    this.#fromDeg = here;
    this.#targetDeg =
      targetDeg === undefined ? undefined : Math.min(this.calibration.rangeDeg, Math.max(0, targetDeg));
    this.#commandedAtMs = atMs;
  }

  /** Like {@link command}, from the pulse width an emulator reports (undefined: no pulses). */
  commandPulse(pulseUs: number | undefined, atMs: number): void {
    this.command(pulseUs === undefined ? undefined : pulseUsToAngle(pulseUs, this.calibration), atMs);
  }
}
