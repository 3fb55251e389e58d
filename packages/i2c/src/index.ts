export {
  type BytesRead,
  type BytesWritten,
  I2C_BLOCK_MAX,
  type I2cBus,
} from "./bus.ts";
export {
  I2cError,
  type I2cErrorCode,
  type I2cErrorDetails,
  type I2cOperation,
  isI2cError,
} from "./errors.ts";
export { type I2cBusModule, type OpenI2cBusOptions, openI2cBus, type RawI2cBus } from "./open.ts";
