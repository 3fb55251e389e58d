import type { CommandGroup } from "@skittlesorter/cli-shell";
import { type Globals, helpers, wholeNumber, withGlobals } from "./shared.ts";

/** `settings`: runtime settings (persisted). */
export const settingsCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
  const settings = program.command("settings").description("runtime settings (persisted)");
  withGlobals(settings.command("show").description("show settings")).action(async (options: Globals) => {
    const admin = await client(options);
    const body = await admin.get("/admin/settings");
    print(options, body, JSON.stringify(body, null, 2));
  });
  withGlobals(settings.command("set").description("change settings"))
    .option("--assignment-delay-ms <ms>", "assignment delay", wholeNumber)
    .option("--strict-csr", "EC P-384 CSRs only")
    .option("--no-strict-csr", "any supported CSR key")
    .option("--registrations-per-minute <n>", "register quota (0 = unlimited)", wholeNumber)
    .action(async (options: Globals & Record<string, unknown>) => {
      const admin = await client(options);
      const body: Record<string, unknown> = {};
      for (const key of ["assignmentDelayMs", "strictCsr", "registrationsPerMinute"]) {
        if (options[key] !== undefined) body[key] = options[key];
      }
      const result = await admin.request("PATCH", "/admin/settings", { body });
      print(options, result.body, JSON.stringify(result.body, null, 2));
    });
};
