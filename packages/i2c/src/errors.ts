import { errorGuard, SkittleError } from "@skittlesorter/core";

/** Every error code the i2c package produces. */
export type I2cErrorCode =
  | "I2C_MODULE_UNAVAILABLE"
  | "I2C_BUS_NOT_FOUND"
  | "I2C_PERMISSION_DENIED"
  | "I2C_NACK"
  | "I2C_TIMEOUT"
  | "I2C_IO_ERROR"
  | "I2C_BUS_CLOSED"
  | "I2C_INVALID_ARGUMENT";

/** The bus operations of {@link I2cBus}, plus `open`. */
export type I2cOperation =
  | "open"
  | "close"
  | "readByte"
  | "writeByte"
  | "readWord"
  | "writeWord"
  | "readI2cBlock"
  | "writeI2cBlock"
  | "i2cRead"
  | "i2cWrite"
  | "receiveByte"
  | "sendByte";

export interface I2cErrorDetails {
  /** 7-bit device address the failed transaction was sent to. */
  address?: number | undefined;
  operation?: I2cOperation | undefined;
  /** The operating system's error code (`EREMOTEIO`, `ENOENT`, …) when the kernel reported one. */
  osCode?: string | undefined;
  /** The bus device file, e.g. `/dev/i2c-1`, when known. */
  devicePath?: string | undefined;
  cause?: unknown;
}

export class I2cError extends SkittleError<I2cErrorCode> {
  readonly address: number | undefined;
  readonly operation: I2cOperation | undefined;
  readonly osCode: string | undefined;
  readonly devicePath: string | undefined;

  constructor(code: I2cErrorCode, message: string, details: I2cErrorDetails = {}) {
    super(code, message, { cause: details.cause });
    this.address = details.address;
    this.operation = details.operation;
    this.osCode = details.osCode;
    this.devicePath = details.devicePath;
  }
}

/** True for an {@link I2cError}, also across two copies of this package. */
export const isI2cError = errorGuard<I2cError>("I2cError", "I2C_");

export function hex(value: number): string {
  return `0x${value.toString(16).padStart(2, "0")}`;
}

/** The fix for a bus device file that does not exist. */
export function enableI2cHint(busNumber: number): string {
  return (
    "Enable I2C on the Raspberry Pi (`sudo raspi-config nonint do_i2c 0`, or add `dtparam=i2c_arm=on` to " +
    `/boot/firmware/config.txt and reboot), check the bus number (\`ls /dev/i2c-*\`; the header pins 3 and 5 are ` +
    `bus 1, you asked for bus ${busNumber}), and add your user to the i2c group (\`sudo usermod -aG i2c $USER\`, ` +
    "then log in again)."
  );
}

export const PERMISSION_HINT =
  "Add your user to the i2c group (`sudo usermod -aG i2c $USER`, then log in again) or run as root.";

interface OsErrorLike {
  code?: unknown;
  message?: unknown;
}

/**
 * Turns whatever the native module (or a chip emulator) threw into an {@link I2cError}, keeping the original as
 * `cause` and its OS code on `osCode`.
 */
export function toI2cError(
  error: unknown,
  context: { operation: I2cOperation; address?: number | undefined; devicePath?: string | undefined },
): I2cError {
  if (error instanceof I2cError) return error;
  const osCode =
    typeof (error as OsErrorLike | null)?.code === "string"
      ? ((error as OsErrorLike).code as string)
      : undefined;
  const detail =
    typeof (error as OsErrorLike | null)?.message === "string"
      ? ((error as OsErrorLike).message as string)
      : String(error);
  const where = context.devicePath === undefined ? "the I2C bus" : context.devicePath;
  const target = context.address === undefined ? "" : ` to address ${hex(context.address)}`;
  const details: I2cErrorDetails = { ...context, osCode, cause: error };
  switch (osCode) {
    case "EREMOTEIO":
    case "ENXIO":
      return new I2cError(
        "I2C_NACK",
        `No device acknowledged ${context.operation}${target} on ${where} (${osCode}). Check the wiring ` +
          "(SDA to GPIO2/pin 3, SCL to GPIO3/pin 5, GND, power), that the board is powered, and the address " +
          "(`i2cdetect -y 1` lists the devices that answer).",
        details,
      );
    case "ETIMEDOUT":
      return new I2cError(
        "I2C_TIMEOUT",
        `${context.operation}${target} on ${where} timed out (${osCode}). The bus is stuck or a device holds the ` +
          "clock low: check pull-ups and cable length, power-cycle the devices, or lower the bus speed " +
          "(`dtparam=i2c_arm_baudrate=100000`).",
        details,
      );
    case "EACCES":
    case "EPERM":
      return new I2cError(
        "I2C_PERMISSION_DENIED",
        `Permission denied for ${context.operation} on ${where}. ${PERMISSION_HINT}`,
        details,
      );
    default:
      return new I2cError(
        "I2C_IO_ERROR",
        `${context.operation}${target} on ${where} failed: ${detail}. Check the wiring and power of the device.`,
        details,
      );
  }
}
