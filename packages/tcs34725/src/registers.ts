/** Default 7-bit I2C address of the TCS34725 (and TCS34721). */
export const TCS34725_ADDRESS = 0x29;

/** COMMAND byte: bit 7 must be set; bits 6:5 select the protocol. */
export const COMMAND_BIT = 0x80;
/** TYPE 01: auto-increment the register address during a transfer. */
export const AUTO_INCREMENT = 0x20;
/** TYPE 11: special function; with code 0x06 it clears the clear-channel interrupt. */
export const SPECIAL_FUNCTION = 0x60;
export const SF_CLEAR_INTERRUPT = 0x06;

export const REG = {
  ENABLE: 0x00,
  ATIME: 0x01,
  WTIME: 0x03,
  AILTL: 0x04,
  AILTH: 0x05,
  AIHTL: 0x06,
  AIHTH: 0x07,
  PERS: 0x0c,
  CONFIG: 0x0d,
  CONTROL: 0x0f,
  ID: 0x12,
  STATUS: 0x13,
  CDATAL: 0x14,
  CDATAH: 0x15,
  RDATAL: 0x16,
  RDATAH: 0x17,
  GDATAL: 0x18,
  GDATAH: 0x19,
  BDATAL: 0x1a,
  BDATAH: 0x1b,
} as const;

export const ENABLE = { PON: 0x01, AEN: 0x02, WEN: 0x08, AIEN: 0x10 } as const;
export const STATUS = { AVALID: 0x01, AINT: 0x10 } as const;

/** ID register values of the TCS3472x family accepted by the driver (0x44 TCS34721/5, 0x4D TCS34723/7, 0x10). */
export const KNOWN_IDS: readonly number[] = [0x44, 0x4d, 0x10];
