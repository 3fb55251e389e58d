import { usageError } from "@skittlesorter/cli-shell";

/** A decimal number option (`12`, `-5`, `153.6`) within [min, max]; anything else is a usage error (exit 2). */
export function parseNumberOption(flag: string, value: string, min: number, max: number): number {
  const number = Number(value);
  if (!/^-?\d+(\.\d+)?$/.test(value.trim()) || !Number.isFinite(number) || number < min || number > max) {
    throw usageError(`${flag} must be a number from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

/** A whole-number option within [min, max]. */
export function parseIntegerOption(flag: string, value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw usageError(`${flag} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}

/** A 7-bit I2C address as hex (`0x40`) or decimal (`64`). */
export function parseI2cAddressOption(flag: string, value: string): number {
  const text = value.trim().toLowerCase();
  const address = /^0x[0-9a-f]{1,2}$/.test(text)
    ? Number.parseInt(text.slice(2), 16)
    : /^\d{1,3}$/.test(text)
      ? Number(text)
      : Number.NaN;
  if (!(address >= 0x03 && address <= 0x77)) {
    throw usageError(`${flag} must be a 7-bit I2C address from 0x03 to 0x77 (e.g. 0x40), got "${value}"`);
  }
  return address;
}

/** `0x29` */
export const hex = (value: number): string => `0x${value.toString(16).padStart(2, "0")}`;

/** A number rounded for display, without trailing zeros (`1500`, `1499.51`). */
export const rounded = (value: number, digits = 2): string => String(Number(value.toFixed(digits)));

/** JSON has no Infinity or NaN. */
export const finiteOrNull = (value: number | undefined): number | null =>
  value !== undefined && Number.isFinite(value) ? value : null;
