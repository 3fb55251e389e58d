import { Command, CommanderError } from "commander";
import { type CliIo, isCliError } from "./io.ts";

export interface CommandContext {
  io: CliIo;
  /** Prints a result: JSON when `--json` was given, otherwise the human text. */
  print(result: unknown, human: string): void;
}

/** Each command group registers its commands on the program; one file (or folder) per group. */
export type CommandGroup = (program: Command, context: (command: Command) => CommandContext) => void;

export interface ProgramOptions {
  /** The bin's name, as users type it. */
  name: string;
  description: string;
  version: string;
  io: CliIo;
  groups: readonly CommandGroup[];
}

/** A commander program whose every subcommand routes output through `io` and reports errors instead of exiting. */
export function buildProgram(options: ProgramOptions): Command {
  const { io } = options;
  const program = new Command(options.name)
    .description(options.description)
    .version(options.version, "-V, --version")
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

  for (const register of options.groups) register(program, context);
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

/**
 * Runs the program and returns the exit code: 0 ok, 1 failure, 2 usage error. Errors are printed as one line,
 * `error [CODE]: message`; the stack never reaches the user.
 */
export async function runProgram(program: Command, argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit through here with code 0; parse errors have already been printed.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (isCliError(error)) {
      io.stderr(`error [${error.code}]: ${error.message}\n`);
      return error.exitCode;
    }
    // Node's system errors carry useful codes too (ENOENT, EACCES): print them as they are.
    const coded = (error as { code?: unknown } | undefined)?.code;
    const code = typeof coded === "string" ? coded : "UNEXPECTED";
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`error [${code}]: ${message}\n`);
    return 1;
  }
}
