export { type ColorSensorHarness, colorSensorConformance } from "./conformance.ts";
export { lightForCounts, Tcs34725Emulator, type Tcs34725EmulatorOptions } from "./emulator.ts";
