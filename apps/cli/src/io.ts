// Kept only for commands/fleet*.ts, which are moving to packages/fleet; everything else imports
// @skittlesorter/cli-shell directly. Delete this file with that move.
export { CliError, type CliIo, usageError } from "@skittlesorter/cli-shell";
