import { errorGuard, SkittleError } from "@skittlesorter/core";

export type Tcs34725ErrorCode =
  | "TCS34725_NOT_FOUND"
  | "TCS34725_UNEXPECTED_ID"
  | "TCS34725_TIMEOUT"
  | "TCS34725_INVALID_OPTION"
  | "TCS34725_CLOSED";

export class Tcs34725Error extends SkittleError<Tcs34725ErrorCode> {
  /** The I2C address of the sensor. */
  readonly address: number | undefined;
  /** The ID register value, for TCS34725_UNEXPECTED_ID. */
  readonly id: number | undefined;

  constructor(
    code: Tcs34725ErrorCode,
    message: string,
    details: { address?: number | undefined; id?: number | undefined; cause?: unknown } = {},
  ) {
    super(code, message, { cause: details.cause });
    this.address = details.address;
    this.id = details.id;
  }
}

/** True for a {@link Tcs34725Error}, also across copies of this package. */
export const isTcs34725Error = errorGuard<Tcs34725Error>("Tcs34725Error", "TCS34725_");

export function hex(value: number): string {
  return `0x${value.toString(16).padStart(2, "0")}`;
}
