import { CliError, type CommandContext } from "@skittlesorter/cli-shell";
import type { Command } from "commander";
import { type ConnectionFlags, connect, withConnection } from "./connection.ts";
import { policiesTable, policyText } from "./output.ts";

/** Registers `skittle adr policies list|show`. */
export function addPoliciesCommand(adr: Command, context: (command: Command) => CommandContext): void {
  const policies = adr
    .command("policies")
    .description("Credential policies (credentials/default/policies) of the namespace.");

  withConnection(policies.command("list").description("List the credential policies.")).action(
    async (flags: ConnectionFlags, command: Command) => {
      const client = await connect(flags, context(command).io);
      const all = await client.listAllPolicies();
      context(command).print(all, policiesTable(client, all));
    },
  );

  withConnection(
    policies.command("show").description("Show one credential policy.").argument("<name>", "policy name"),
  ).action(async (name: string, flags: ConnectionFlags, command: Command) => {
    const client = await connect(flags, context(command).io);
    const policy = await client.getPolicy(name);
    if (policy === undefined) {
      throw new CliError(
        "ADR_NOT_FOUND",
        `credential policy "${name}" not found in namespace ${client.namespace}; list them with \`skittle adr policies list\``,
      );
    }
    context(command).print(policy, policyText(policy));
  });
}
