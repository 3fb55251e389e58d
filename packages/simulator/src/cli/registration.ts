import type { CommandGroup } from "@skittlesorter/cli-shell";
import { type Globals, helpers, table, withGlobals } from "./shared.ts";

/** `registration`: device registration records. */
export const registrationCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
  const registration = program.command("registration").description("device registration records");
  withGlobals(registration.command("list").description("list registrations"))
    .option("--enrollment <id>", "only those of this enrollment")
    .action(async (options: Globals & { enrollment?: string }) => {
      const admin = await client(options);
      const query =
        options.enrollment === undefined ? "" : `?enrollment=${encodeURIComponent(options.enrollment)}`;
      const list = await admin.get<Record<string, unknown>[]>(`/admin/registrations${query}`);
      print(
        options,
        list,
        list.length === 0
          ? "no registrations"
          : table([
              ["REGISTRATION", "STATUS", "SUBSTATUS", "ASSIGNED HUB", "DEVICE", "ENROLLMENT", "UPDATED"],
              ...list.map((item) => [
                String(item.registrationId),
                String(item.status),
                String(item.substatus ?? "-"),
                String(item.assignedHub ?? "-"),
                String(item.deviceId ?? "-"),
                String(item.enrollmentId),
                String(item.lastUpdatedDateTimeUtc),
              ]),
            ]),
      );
    });
  withGlobals(registration.command("show <id>").description("show a registration")).action(
    async (id: string, options: Globals) => {
      const admin = await client(options);
      const body = await admin.get(`/admin/registrations/${encodeURIComponent(id)}`);
      print(options, body, JSON.stringify(body, null, 2));
    },
  );
  withGlobals(registration.command("delete <id>").description("delete a registration record")).action(
    async (id: string, options: Globals) => {
      const admin = await client(options);
      await admin.request("DELETE", `/admin/registrations/${encodeURIComponent(id)}`);
      print(options, { deleted: id }, `deleted ${id}`);
    },
  );
};
