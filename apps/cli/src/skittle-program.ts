import { buildProgram, type CliIo, type Command, type CommandGroup } from "@skittlesorter/cli-shell";
import { cliVersion } from "./version.ts";

/** The `skittle` program with the given command groups. */
export function skittleProgram(io: CliIo, groups: readonly CommandGroup[]): Command {
  return buildProgram({
    name: "skittle",
    description:
      "Keys, SAS tokens, CSRs, certificates, PKI, DPS provisioning, IoT Hub (send, twin, renew), ADR, and sensor/servo bring-up for the skittle sorter.",
    version: cliVersion(),
    io,
    groups,
  });
}
