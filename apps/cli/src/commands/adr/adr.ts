import type { CommandGroup } from "@skittlesorter/cli-shell";
import { addDevicesCommand } from "./devices-command.ts";
import { addPoliciesCommand } from "./policies-command.ts";
import { addSyncCommand } from "./sync-command.ts";

/** Registers `skittle adr devices …`, `skittle adr policies …` and `skittle adr sync`. */
export const adrCommands: CommandGroup = (program, context) => {
  const adr = program
    .command("adr")
    .description(
      "Azure Device Registry over ARM REST (api-version 2026-03-01-preview): namespace devices, credential policies " +
        "and credential synchronization. Connect with --sim FILE (a running skittle-sim) or with --subscription, " +
        "--resource-group and --namespace (signs in with DefaultAzureCredential: az login, managed identity, AZURE_* variables).",
    );

  addDevicesCommand(adr, context);
  addPoliciesCommand(adr, context);
  addSyncCommand(adr, context);
};
