import { readFileSync } from "node:fs";
import { buildProgram as buildShell, type CliIo, type CommandGroup } from "@skittlesorter/cli-shell";
import type { Command } from "commander";

export { type CommandContext, type CommandGroup, runProgram } from "@skittlesorter/cli-shell";

export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export function buildProgram(io: CliIo, groups: readonly CommandGroup[]): Command {
  return buildShell({
    name: "skittle",
    description:
      "Keys, SAS tokens, CSRs, certificates, PKI, DPS provisioning, ADR, and sensor/servo bring-up for the skittle sorter.",
    version: cliVersion(),
    io,
    groups,
  });
}
