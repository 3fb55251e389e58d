export { type ServoDriverHarness, servoDriverConformance } from "./conformance.ts";
// The emulator subpath's exports, kept here for code written before `@skittlesorter/servo/emulator` existed.
export * from "./emulator.ts";
