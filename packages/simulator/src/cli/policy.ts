import type { CommandGroup } from "@skittlesorter/cli-shell";
import { type Globals, helpers, table, wholeNumber, withGlobals } from "./shared.ts";

/** `policy`: ADR credential policies (issuing CAs). */
export const policyCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
  const policy = program.command("policy").description("ADR credential policies (issuing CAs)");
  withGlobals(policy.command("list").description("list credential policies")).action(
    async (options: Globals) => {
      const admin = await client(options);
      const list =
        await admin.get<{ name: string; validityDays: number; issuingCaThumbprint: string }[]>(
          "/admin/adr/policies",
        );
      print(
        options,
        list,
        table([
          ["NAME", "VALIDITY (DAYS)", "ISSUING CA SHA-256"],
          ...list.map((item) => [item.name, String(item.validityDays), item.issuingCaThumbprint]),
        ]),
      );
    },
  );
  withGlobals(policy.command("create <name>").description("create (or update) a credential policy"))
    .option("--validity-days <n>", "leaf certificate validity, 7-90", wholeNumber, 30)
    .action(async (name: string, options: Globals & { validityDays: number }) => {
      const admin = await client(options);
      const result = await admin.request<Record<string, unknown>>(
        "PUT",
        `/admin/adr/policies/${encodeURIComponent(name)}`,
        {
          body: { validityDays: options.validityDays },
        },
      );
      print(
        options,
        result.body,
        `${result.status === 201 ? "created" : "updated"} policy ${name} (${options.validityDays} days)`,
      );
    });

  withGlobals(
    policy
      .command("sync")
      .description("synchronize the credentials: the hub trusts the issuing CA of every current policy"),
  ).action(async (options: Globals) => {
    const admin = await client(options);
    const result = await admin.request<{ synchronizedAt: string; policies: { name: string }[] }>(
      "POST",
      "/admin/adr/synchronize",
    );
    print(
      options,
      result.body,
      `synchronized ${result.body.policies.map((item) => item.name).join(", ")} at ${result.body.synchronizedAt}`,
    );
  });
};
