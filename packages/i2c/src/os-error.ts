/** OS error codes the fake bus and the chip emulators can raise, with their Linux errno and text. */
export const OS_ERRORS = {
  EREMOTEIO: { errno: 121, text: "Remote I/O error" },
  ETIMEDOUT: { errno: 110, text: "Connection timed out" },
  EIO: { errno: 5, text: "Input/output error" },
  ENXIO: { errno: 6, text: "No such device or address" },
  EBUSY: { errno: 16, text: "Device or resource busy" },
  EAGAIN: { errno: 11, text: "Resource temporarily unavailable" },
} as const;

export type OsErrorCode = keyof typeof OS_ERRORS;

export interface OsError extends Error {
  code: OsErrorCode;
  errno: number;
  syscall: string;
}

/**
 * An error shaped like the ones the `i2c-bus` native addon rejects with (`"EREMOTEIO, Remote I/O error"`, with
 * `code`, positive `errno` and `syscall`), so fakes fail the way the hardware does.
 */
export function createOsError(code: OsErrorCode, syscall: string): OsError {
  const { errno, text } = OS_ERRORS[code];
  return Object.assign(new Error(`${code}, ${text}`), { code, errno, syscall });
}
