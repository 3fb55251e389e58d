import type { CommandContext } from "@skittlesorter/cli-shell";
import type { Command } from "commander";
import { type ConnectionFlags, connect, withConnection } from "./connection.ts";

/** Registers `skittle adr sync`. */
export function addSyncCommand(adr: Command, context: (command: Command) => CommandContext): void {
  withConnection(
    adr
      .command("sync")
      .description(
        "Synchronize the namespace credentials (POST credentials/default/synchronize) and wait for it to finish.",
      ),
  ).action(async (flags: ConnectionFlags, command: Command) => {
    const client = await connect(flags, context(command).io);
    await client.synchronizeCredentials();
    context(command).print(
      { namespace: client.namespace, synchronized: true },
      `credentials of namespace ${client.namespace} synchronized`,
    );
  });
}
