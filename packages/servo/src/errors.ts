import { errorGuard, SkittleError } from "@skittlesorter/core";

export type ServoErrorCode =
  | "SERVO_INVALID_OPTION"
  | "SERVO_INVALID_CHANNEL"
  | "SERVO_PULSE_OUT_OF_RANGE"
  | "SERVO_ANGLE_OUT_OF_RANGE"
  | "SERVO_DEVICE_NOT_FOUND"
  | "SERVO_PWM_UNAVAILABLE"
  | "SERVO_PERMISSION_DENIED"
  | "SERVO_IO_ERROR"
  | "SERVO_CALIBRATION_FAILED"
  | "SERVO_CLOSED";

export interface ServoErrorDetails {
  channel?: number | undefined;
  /** The sysfs file involved, for the sysfs driver. */
  path?: string | undefined;
  /** The operating system's error code (`EACCES`, `EINVAL`, …), when there was one. */
  osCode?: string | undefined;
  cause?: unknown;
}

export class ServoError extends SkittleError<ServoErrorCode> {
  readonly channel: number | undefined;
  readonly path: string | undefined;
  readonly osCode: string | undefined;

  constructor(code: ServoErrorCode, message: string, details: ServoErrorDetails = {}) {
    super(code, message, { cause: details.cause });
    this.channel = details.channel;
    this.path = details.path;
    this.osCode = details.osCode;
  }
}

/** True for a {@link ServoError}, also across copies of this package. */
export const isServoError = errorGuard<ServoError>("ServoError", "SERVO_");

export function hex(value: number): string {
  return `0x${value.toString(16).padStart(2, "0")}`;
}
