import { type CliIo, type CommandGroup, processIo, runProgram } from "@skittlesorter/cli-shell";
import { adrCommands } from "./commands/adr/adr.ts";
import { certCommands } from "./commands/certs/cert.ts";
import { csrCommands } from "./commands/certs/csr.ts";
import { fleetCommands } from "./commands/fleet/fleet.ts";
import { sensorCommands } from "./commands/hardware/sensor.ts";
import { servoCommands } from "./commands/hardware/servo.ts";
import { hubCommands } from "./commands/hub/hub.ts";
import { keysCommands } from "./commands/keys/keys.ts";
import { sasCommands } from "./commands/keys/sas.ts";
import { pkiCommands } from "./commands/pki/pki.ts";
import { provisionCommands } from "./commands/provision/provision.ts";
import { skittleProgram } from "./skittle-program.ts";

const groups: readonly CommandGroup[] = [
  keysCommands,
  sasCommands,
  csrCommands,
  certCommands,
  provisionCommands,
  hubCommands,
  fleetCommands,
  adrCommands,
  pkiCommands,
  sensorCommands,
  servoCommands,
];

/** Entry point of the `skittle` bin. Returns the process exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  return runProgram(skittleProgram(io, groups), argv, io);
}

export { CliError, type CliIo } from "@skittlesorter/cli-shell";
