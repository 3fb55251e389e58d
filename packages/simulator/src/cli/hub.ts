import type { CommandGroup } from "@skittlesorter/cli-shell";
import { type Globals, helpers, table, wholeNumber, withGlobals } from "./shared.ts";

/** `hub`: linked IoT hubs. */
export const hubCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
  const hub = program.command("hub").description("linked IoT hubs");
  withGlobals(hub.command("list").description("list linked hubs")).action(async (options: Globals) => {
    const admin = await client(options);
    const list = await admin.get<Record<string, unknown>[]>("/admin/hubs");
    print(
      options,
      list,
      table([
        ["NAME", "HOSTNAME", "WEIGHT", "APPLY ALLOCATION", "LOCAL"],
        ...list.map((item) => [
          String(item.name),
          String(item.hostname),
          String(item.allocationWeight),
          String(item.applyAllocationPolicy),
          String(item.local),
        ]),
      ]),
    );
  });
  withGlobals(hub.command("link <name>").description("link (or update) a hub"))
    .option("--hostname <host>", "its host name")
    .option("--weight <n>", "allocation weight", wholeNumber)
    .option("--no-apply-allocation-policy", "exclude it from hashed allocation unless an enrollment names it")
    .action(
      async (
        name: string,
        options: Globals & { hostname?: string; weight?: number; applyAllocationPolicy: boolean },
      ) => {
        const admin = await client(options);
        const body: Record<string, unknown> = { applyAllocationPolicy: options.applyAllocationPolicy };
        if (options.hostname !== undefined) body.hostname = options.hostname;
        if (options.weight !== undefined) body.allocationWeight = options.weight;
        const result = await admin.request("PUT", `/admin/hubs/${encodeURIComponent(name)}`, { body });
        print(options, result.body, `linked ${name}`);
      },
    );
  withGlobals(hub.command("unlink <name>").description("unlink a hub")).action(
    async (name: string, options: Globals) => {
      const admin = await client(options);
      await admin.request("DELETE", `/admin/hubs/${encodeURIComponent(name)}`);
      print(options, { unlinked: name }, `unlinked ${name}`);
    },
  );
};
