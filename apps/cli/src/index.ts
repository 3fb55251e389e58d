import { type CliIo, processIo } from "./io.ts";
import { buildProgram, type CommandGroup, runProgram } from "./program.ts";

const groups: readonly CommandGroup[] = [];

/** Entry point of the `skittle` bin. Returns the process exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  return runProgram(buildProgram(io, groups), argv, io);
}

export { CliError, type CliIo } from "./io.ts";
