export { type ColorSensorHarness, colorSensorConformance } from "./conformance.ts";
// The emulator subpath's exports, kept here for code written before `@skittlesorter/tcs34725/emulator` existed.
export { lightForCounts, Tcs34725Emulator, type Tcs34725EmulatorOptions } from "./emulator.ts";
