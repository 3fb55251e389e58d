import { type CommandContext, usageError } from "@skittlesorter/cli-shell";
import type { Command } from "commander";
import { collect, keyValue } from "./args.ts";
import { deviceFrom, deviceOptions, type HubDeviceOptions, withDevice } from "./device.ts";

interface TwinOptions extends HubDeviceOptions {
  report?: string[] | undefined;
}

/** Registers `skittle hub twin`. */
export function addTwinCommand(hub: Command, context: (command: Command) => CommandContext): void {
  const twin = hub
    .command("twin")
    .description(
      "Print the device twin (desired and reported properties); with --report, merge reported properties first.",
    )
    .option(
      "--report <key=value>",
      "a reported property (repeatable); a.b=1 nests, the value is JSON when it parses (1, true, null) else text",
      collect,
    );
  deviceOptions(twin.option.bind(twin));
  twin.action(async (options: TwinOptions) => {
    const ctx = context(twin);
    const patch = reportedPatch(options.report ?? []);
    const device = await deviceFrom(options, ctx.io);
    const result = await withDevice(device, options, ctx.io, async (client, signal) => {
      const reportedVersion =
        Object.keys(patch).length === 0
          ? undefined
          : (await client.updateReportedProperties(patch, { signal })).version;
      return { reportedVersion, twin: await client.getTwin({ signal }) };
    });
    ctx.print(
      { deviceId: device.deviceId, hub: device.hostName, ...result },
      [
        ...(result.reportedVersion === undefined
          ? []
          : [`reported ${Object.keys(patch).join(", ")} (reported $version ${result.reportedVersion})`]),
        `desired:  ${JSON.stringify(result.twin.desired)}`,
        `reported: ${JSON.stringify(result.twin.reported)}`,
      ].join("\n"),
    );
  });
}

/** `a.b=1` → `{ a: { b: 1 } }`; values are JSON when they parse, else text. */
export function reportedPatch(entries: readonly string[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const entry of entries) {
    const [path, text] = keyValue("--report", entry);
    const keys = path.split(".");
    if (keys.some((key) => key === "" || key.startsWith("$"))) {
      throw usageError(`--report ${path}: property names may not be empty or start with "$"`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = text;
    }
    let node = patch;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      node[key] = next !== null && typeof next === "object" ? next : {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys.at(-1) as string] = value;
  }
  return patch;
}
