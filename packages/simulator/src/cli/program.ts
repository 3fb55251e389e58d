import { readFileSync } from "node:fs";
import { buildProgram, type CliIo, processIo, runProgram } from "@skittlesorter/cli-shell";
import { c2dCommands } from "./c2d.ts";
import { caCommands } from "./ca.ts";
import { deviceCommands } from "./device.ts";
import { enrollmentCommands } from "./enrollment.ts";
import { hubCommands } from "./hub.ts";
import { policyCommands } from "./policy.ts";
import { registrationCommands } from "./registration.ts";
import { settingsCommands } from "./settings.ts";
import { startCommand } from "./start.ts";
import { twinCommands } from "./twin.ts";

export type { CliIo } from "@skittlesorter/cli-shell";

export interface MainOptions {
  /** Where output goes (default: the process's streams); `cwd` defaults to the process's. */
  io?: (Omit<CliIo, "cwd"> & { cwd?: string | undefined }) | undefined;
  /** Stops `start` like SIGTERM does (tests). */
  signal?: AbortSignal | undefined;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** Runs the `skittle-sim` CLI; resolves with the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const io: CliIo = options.io === undefined ? processIo() : ({ cwd: process.cwd(), ...options.io } as CliIo);
  const program = buildProgram({
    name: "skittle-sim",
    description: "Azure IoT Hub DPS (with ADR certificate issuance) and IoT Hub on a laptop.",
    version: version(),
    io,
    groups: [
      startCommand(options.signal),
      enrollmentCommands,
      caCommands,
      registrationCommands,
      policyCommands,
      deviceCommands,
      twinCommands,
      c2dCommands,
      hubCommands,
      settingsCommands,
    ],
  });
  return runProgram(program, argv, io);
}
