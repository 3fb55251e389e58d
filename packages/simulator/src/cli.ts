// The bin's entry (`bin/skittle-sim.js` loads `dist/cli.js`).
export { type CliIo, type MainOptions, main } from "./cli/program.ts";
