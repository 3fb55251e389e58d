import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { CliError, type CliIo } from "./io.ts";

export interface CommandContext {
  io: CliIo;
  /** Prints a result: JSON when `--json` was given, otherwise the human text. */
  print(result: unknown, human: string): void;
}

/** Each command group registers its commands on the program. */
export type CommandGroup = (program: Command, context: (command: Command) => CommandContext) => void;

export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

export function buildProgram(io: CliIo, groups: readonly CommandGroup[]): Command {
  const program = new Command("skittle")
    .description(
      "Keys, SAS tokens, CSRs, certificates, PKI, DPS provisioning, ADR, and sensor/servo bring-up for the skittle sorter.",
    )
    .version(cliVersion(), "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();

  const context = (command: Command): CommandContext => ({
    io,
    print(result, human) {
      const json = Boolean(command.optsWithGlobals().json);
      io.stdout(json ? `${JSON.stringify(result, null, 2)}\n` : `${human}\n`);
    },
  });

  for (const register of groups) register(program, context);
  // Every subcommand inherits the error handling and output routing of the root.
  const configure = (command: Command): void => {
    for (const sub of command.commands) {
      sub.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
      sub.showHelpAfterError("(run with --help for usage)");
      configure(sub);
    }
  };
  configure(program);
  return program;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 failure, 2 usage error. */
export async function runProgram(program: Command, argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit through here with code 0; parse errors have already been printed.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      io.stderr(`error [${error.code}]: ${error.message}\n`);
      return error.exitCode;
    }
    const coded = error as { code?: unknown; message?: unknown };
    const code = typeof coded?.code === "string" ? coded.code : "UNEXPECTED";
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`error [${code}]: ${message}\n`);
    return 1;
  }
}
