export { type ConformanceCase, type I2cBusHarness, i2cBusConformance } from "./conformance.ts";
// The emulator subpath's exports, kept here for code written before `@skittlesorter/i2c/emulator` existed.
export * from "./emulator.ts";
