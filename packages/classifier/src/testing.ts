// The emulator subpath's exports, kept here for code written before `@skittlesorter/classifier/emulator` existed.
export * from "./emulator.ts";
