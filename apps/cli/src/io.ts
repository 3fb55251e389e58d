export { CliError, type CliIo, processIo, usageError } from "@skittlesorter/cli-shell";
