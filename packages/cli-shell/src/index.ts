export type { Command } from "commander";
export { CliError, type CliIo, type ExitCode, isCliError, processIo, usageError } from "./io.ts";
export {
  buildProgram,
  type CommandContext,
  type CommandGroup,
  type ProgramOptions,
  runProgram,
} from "./program.ts";
