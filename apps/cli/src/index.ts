import { adrCommands } from "./commands/adr.ts";
import { certCommands } from "./commands/cert.ts";
import { csrCommands } from "./commands/csr.ts";
import { fleetCommands } from "./commands/fleet.ts";
import { keysCommands } from "./commands/keys.ts";
import { pkiCommands } from "./commands/pki.ts";
import { provisionCommands } from "./commands/provision.ts";
import { sasCommands } from "./commands/sas.ts";
import { sensorCommands } from "./commands/sensor.ts";
import { servoCommands } from "./commands/servo.ts";
import { type CliIo, processIo } from "./io.ts";
import { buildProgram, type CommandGroup, runProgram } from "./program.ts";

const groups: readonly CommandGroup[] = [
  keysCommands,
  sasCommands,
  csrCommands,
  certCommands,
  provisionCommands,
  fleetCommands,
  adrCommands,
  pkiCommands,
  sensorCommands,
  servoCommands,
];

/** Entry point of the `skittle` bin. Returns the process exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  return runProgram(buildProgram(io, groups), argv, io);
}

export { CliError, type CliIo } from "./io.ts";
