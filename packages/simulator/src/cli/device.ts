import type { CommandGroup } from "@skittlesorter/cli-shell";
import type { TelemetryView } from "../hub/telemetry.ts";
import { type Globals, helpers, SHOW_SECRETS, table, wholeNumber, withGlobals } from "./shared.ts";

/** `device` and `telemetry`: the simulator's hub devices and the messages they sent. */
export const deviceCommands: CommandGroup = (program, context) => {
  const { print, client } = helpers(context(program).io);
  const device = program.command("device").description("devices of the simulator's IoT hub");
  withGlobals(device.command("list").description("list hub devices with connection state and message counts"))
    .option("--hub <name>", "only this hub's devices")
    .option("--show-secrets", SHOW_SECRETS)
    .action(async (options: Globals & { hub?: string }) => {
      const admin = await client(options);
      const query = new URLSearchParams();
      if (options.hub !== undefined) query.set("hub", options.hub);
      if (options.showSecrets) query.set("includeSecrets", "true");
      const text = query.toString();
      const list = await admin.get<Record<string, unknown>[]>(
        `/admin/devices${text === "" ? "" : `?${text}`}`,
      );
      print(
        options,
        list,
        list.length === 0
          ? "no devices"
          : table([
              ["DEVICE", "STATUS", "CONNECTION", "AUTH", "MESSAGES", "CERT DAYS LEFT", "LAST ACTIVITY"],
              ...list.map((item) => [
                String(item.deviceId),
                String(item.status),
                String(item.connectionState),
                String((item.authentication as { type?: string } | undefined)?.type ?? "-"),
                String(item.messageCount),
                String((item.certificate as { daysLeft?: number } | null)?.daysLeft ?? "-"),
                String(item.lastActivityTime ?? "-"),
              ]),
            ]),
      );
    });

  const telemetry = program.command("telemetry").description("device-to-cloud messages the hub stored");
  withGlobals(
    telemetry.command("list").description("list stored messages (oldest first) with body and properties"),
  )
    .option("--device <id>", "only this device's messages")
    .option("--limit <n>", "the newest N messages (1-10000)", wholeNumber, 100)
    .option("--since <time>", "only messages enqueued at or after this ISO 8601 time")
    .option("--until <time>", "only messages enqueued at or before this ISO 8601 time")
    .action(async (options: Globals & { device?: string; limit: number; since?: string; until?: string }) => {
      const admin = await client(options);
      const query = new URLSearchParams({ limit: String(options.limit) });
      if (options.device !== undefined) query.set("device", options.device);
      if (options.since !== undefined) query.set("from", options.since);
      if (options.until !== undefined) query.set("to", options.until);
      const list = await admin.get<TelemetryView[]>(`/admin/telemetry?${query.toString()}`);
      print(
        options,
        list,
        list.length === 0
          ? "no messages"
          : table([
              ["ID", "ENQUEUED", "DEVICE", "PROPERTIES", "BODY"],
              ...list.map((item) => [
                String(item.id),
                item.enqueuedTime,
                item.deviceId,
                Object.entries({ ...item.systemProperties, ...item.properties })
                  .filter(
                    ([key]) => !["connectionDeviceId", "connectionAuthMethod", "enqueuedTime"].includes(key),
                  )
                  .map(([key, value]) => `${key}=${value}`)
                  .join(" "),
                item.bodyEncoding === "utf8" ? item.body.replaceAll("\n", " ") : `(base64) ${item.body}`,
              ]),
            ]),
      );
    });
};
