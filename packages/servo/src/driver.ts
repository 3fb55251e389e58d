import type { OperationOptions } from "@skittlesorter/core";
import { ServoError } from "./errors.ts";

/**
 * A source of servo pulses on numbered channels (a PCA9685, a Linux PWM chip, …). The {@link Servo} class turns
 * angles into pulse widths on top of it. Every implementation passes `servoDriverConformance`.
 */
export interface ServoDriver {
  /** Channels are 0 … channelCount − 1. */
  readonly channelCount: number;
  /** The frame rate actually produced, in Hz (≈ 50 for servos). */
  readonly frequencyHz: number;
  /** The smallest pulse-width step the hardware can make, in µs. */
  readonly resolutionUs: number;
  /** Sends pulses of `pulseUs` on `channel`, every frame, until changed or released. */
  setPulseWidth(channel: number, pulseUs: number, options?: OperationOptions): Promise<void>;
  /** Stops the pulses on `channel`: the servo stops holding its position. */
  release(channel: number, options?: OperationOptions): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

export function checkChannel(channel: number, channelCount: number): void {
  if (!Number.isInteger(channel) || channel < 0 || channel >= channelCount) {
    throw new ServoError(
      "SERVO_INVALID_CHANNEL",
      `Channel ${String(channel)} does not exist; this driver has channels 0 to ${channelCount - 1}.`,
      { channel },
    );
  }
}

export function checkPulse(channel: number, pulseUs: number, frequencyHz: number): void {
  const periodUs = 1e6 / frequencyHz;
  if (!Number.isFinite(pulseUs) || pulseUs <= 0 || pulseUs >= periodUs) {
    throw new ServoError(
      "SERVO_PULSE_OUT_OF_RANGE",
      `A pulse of ${String(pulseUs)} µs is impossible at ${frequencyHz.toFixed(2)} Hz: it must be above 0 and ` +
        `below the ${periodUs.toFixed(0)} µs frame (servos use about 500 to 2500 µs). Use release() to stop pulses.`,
      { channel },
    );
  }
}

export function closedError(channel?: number): ServoError {
  return new ServoError(
    "SERVO_CLOSED",
    "The servo driver was closed. Open a new driver before moving servos again.",
    { channel },
  );
}
