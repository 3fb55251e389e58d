export {
  FakeI2cBus,
  type FakeI2cBusOptions,
  type I2cDevice,
  type I2cFault,
  type I2cTransaction,
} from "./fake-bus.ts";
export { MemoryDevice } from "./memory-device.ts";
export { createOsError, OS_ERRORS, type OsError, type OsErrorCode } from "./os-error.ts";
