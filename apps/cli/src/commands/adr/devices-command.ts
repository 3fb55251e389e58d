import type { AdrClient, AdrDevicePatch } from "@skittlesorter/adr-client";
import { CliError, type CommandContext, usageError } from "@skittlesorter/cli-shell";
import type { Command } from "commander";
import { type ConnectionFlags, connect, withConnection } from "./connection.ts";
import { devicesTable, deviceText } from "./output.ts";

interface UpdateFlags extends ConnectionFlags {
  enabled?: string;
  osVersion?: string;
  attribute?: string[];
  attributeJson?: string[];
  tag?: string[];
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Registers `skittle adr devices list|show|update|delete`. */
export function addDevicesCommand(adr: Command, context: (command: Command) => CommandContext): void {
  const devices = adr.command("devices").description("Devices of the ADR namespace.");

  withConnection(
    devices.command("list").description("List the devices of the namespace (every page)."),
  ).action(async (flags: ConnectionFlags, command: Command) => {
    const client = await connect(flags, context(command).io);
    const all = await client.listAllDevices();
    context(command).print(all, devicesTable(client, all));
  });

  withConnection(
    devices.command("show").description("Show one device.").argument("<name>", "device name"),
  ).action(async (name: string, flags: ConnectionFlags, command: Command) => {
    const client = await connect(flags, context(command).io);
    const device = await client.getDevice(name);
    if (device === undefined) throw deviceNotFound(client, name);
    context(command).print(device, deviceText(device));
  });

  withConnection(
    devices
      .command("update")
      .description(
        "Change a device's updatable fields. --attribute and --tag add or change entries and keep the others " +
          "(the device is read first and the merged sets are sent). Waits for a long-running update to finish.",
      )
      .argument("<name>", "device name")
      .option("--enabled <true|false>", "enable or disable the device")
      .option("--os-version <version>", "operatingSystemVersion")
      .option("--attribute <key=value>", "set a string attribute (repeatable)", collect)
      .option(
        "--attribute-json <key=json>",
        "set an attribute to a JSON value, e.g. bins=6 or pins=[1,2] (repeatable)",
        collect,
      )
      .option("--tag <key=value>", "set a tag (repeatable)", collect),
  ).action(async (name: string, flags: UpdateFlags, command: Command) => {
    const changes = parseUpdate(flags);
    const client = await connect(flags, context(command).io);
    const patch: AdrDevicePatch = { ...changes.fields };
    if (changes.attributes !== undefined || changes.tags !== undefined) {
      const current = await client.getDevice(name);
      if (current === undefined) throw deviceNotFound(client, name);
      if (changes.attributes !== undefined) {
        patch.attributes = { ...current.properties?.attributes, ...changes.attributes };
      }
      if (changes.tags !== undefined) patch.tags = { ...current.tags, ...changes.tags };
    }
    const device = await client.updateDevice(name, patch);
    context(command).print(device, `updated device ${name}\n${deviceText(device)}`);
  });

  withConnection(
    devices
      .command("delete")
      .description("Delete a device (waits for the deletion to finish).")
      .argument("<name>", "device name"),
  ).action(async (name: string, flags: ConnectionFlags, command: Command) => {
    const client = await connect(flags, context(command).io);
    const deleted = await client.deleteDevice(name);
    context(command).print(
      { name, namespace: client.namespace, deleted },
      deleted
        ? `deleted device ${name} from namespace ${client.namespace}`
        : `device ${name} did not exist in namespace ${client.namespace}; nothing deleted`,
    );
  });
}

interface ParsedUpdate {
  fields: Pick<AdrDevicePatch, "enabled" | "operatingSystemVersion">;
  attributes: Record<string, unknown> | undefined;
  tags: Record<string, string> | undefined;
}

function parseUpdate(flags: UpdateFlags): ParsedUpdate {
  const fields: ParsedUpdate["fields"] = {};
  if (flags.enabled !== undefined) {
    if (flags.enabled !== "true" && flags.enabled !== "false") {
      throw usageError(`--enabled must be true or false, got "${flags.enabled}"`);
    }
    fields.enabled = flags.enabled === "true";
  }
  if (flags.osVersion !== undefined) fields.operatingSystemVersion = flags.osVersion;
  let attributes: Record<string, unknown> | undefined;
  for (const entry of flags.attribute ?? []) {
    const [key, value] = keyValue("--attribute", entry);
    attributes = { ...attributes, [key]: value };
  }
  for (const entry of flags.attributeJson ?? []) {
    const [key, text] = keyValue("--attribute-json", entry);
    try {
      attributes = { ...attributes, [key]: JSON.parse(text) as unknown };
    } catch {
      throw usageError(
        `--attribute-json ${key}=… must be JSON (quote strings: ${key}='"text"'), got ${text}`,
      );
    }
  }
  let tags: Record<string, string> | undefined;
  for (const entry of flags.tag ?? []) {
    const [key, value] = keyValue("--tag", entry);
    tags = { ...tags, [key]: value };
  }
  if (Object.keys(fields).length === 0 && attributes === undefined && tags === undefined) {
    throw usageError(
      "nothing to update: pass --enabled true|false, --os-version V, --attribute k=v, --attribute-json k=JSON or --tag k=v",
    );
  }
  return { fields, attributes, tags };
}

function keyValue(flag: string, entry: string): [string, string] {
  const at = entry.indexOf("=");
  if (at <= 0) throw usageError(`${flag} takes key=value, got "${entry}"`);
  return [entry.slice(0, at), entry.slice(at + 1)];
}

function deviceNotFound(client: AdrClient, name: string): CliError {
  return new CliError(
    "ADR_NOT_FOUND",
    `device "${name}" not found in namespace ${client.namespace} (resource group ${client.resourceGroup}); list devices with \`skittle adr devices list\``,
  );
}
