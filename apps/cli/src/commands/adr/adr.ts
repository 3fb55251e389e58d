import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  type AdrClient,
  type AdrCredentialPolicy,
  type AdrDevice,
  type AdrDevicePatch,
  createAdrClient,
  isAdrError,
  staticTokenCredential,
  type TokenCredential,
} from "@skittlesorter/adr-client";
import type { CommandGroup } from "@skittlesorter/cli-shell";
import { CliError, type CliIo, usageError } from "@skittlesorter/cli-shell";
import type { Command } from "commander";
import { stderrLogger } from "../../logger.ts";
import { readSimFile, type SimAdr, simAdr, simTrustedCaFile } from "../../sim-file.ts";
import { cliVersion } from "../../version.ts";

interface ConnectionFlags {
  sim?: string;
  subscription?: string;
  resourceGroup?: string;
  namespace?: string;
  baseUrl?: string;
  timeoutSeconds?: string;
  verbose?: boolean;
  json?: boolean;
}

interface UpdateFlags extends ConnectionFlags {
  enabled?: string;
  osVersion?: string;
  attribute?: string[];
  attributeJson?: string[];
  tag?: string[];
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Registers `skittle adr devices …`, `skittle adr policies …` and `skittle adr sync`. */
export const adrCommands: CommandGroup = (program, context) => {
  const adr = program
    .command("adr")
    .description(
      "Azure Device Registry over ARM REST (api-version 2026-03-01-preview): namespace devices, credential policies " +
        "and credential synchronization. Connect with --sim FILE (a running skittle-sim) or with --subscription, " +
        "--resource-group and --namespace (signs in with DefaultAzureCredential: az login, managed identity, AZURE_* variables).",
    );

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
};

function withConnection(command: Command): Command {
  return command
    .option(
      "--sim <file>",
      "sim.json of a running skittle-sim (or its data directory): its ADR endpoint, names and token",
    )
    .option("--subscription <id>", "Azure subscription id")
    .option("--resource-group <name>", "resource group of the ADR namespace")
    .option("--namespace <name>", "ADR namespace")
    .option("--base-url <url>", "ARM endpoint (default https://management.azure.com)")
    .option("--timeout-seconds <n>", "deadline of each request, long-running waits included", "300")
    .option("--verbose", "log each HTTP attempt (method, URL, status; never the token) to stderr")
    .option("--json", "print the result as JSON");
}

async function connect(flags: ConnectionFlags, io: CliIo): Promise<AdrClient> {
  let sim: SimAdr | undefined;
  let ca: string | undefined;
  if (flags.sim !== undefined) {
    const simFile = await readSimFile(resolve(io.cwd, flags.sim));
    sim = simAdr(simFile);
    const caFile = simTrustedCaFile(simFile);
    if (caFile !== undefined && (flags.baseUrl ?? sim.baseUrl).startsWith("https:")) {
      ca = await readFile(caFile, "utf8");
    }
  }
  const subscriptionId = flags.subscription ?? sim?.subscriptionId;
  const resourceGroup = flags.resourceGroup ?? sim?.resourceGroup;
  const namespace = flags.namespace ?? sim?.namespace;
  const missing = [
    subscriptionId === undefined && "--subscription",
    resourceGroup === undefined && "--resource-group",
    namespace === undefined && "--namespace",
  ].filter((flag): flag is string => flag !== false);
  if (missing.length > 0) {
    throw usageError(
      `say which namespace: pass --sim FILE (a running skittle-sim), or --subscription ID --resource-group NAME --namespace NAME (missing ${missing.join(", ")})`,
    );
  }
  const timeoutText = flags.timeoutSeconds ?? "300";
  const timeoutSeconds = Number(timeoutText);
  if (!/^\d+(\.\d+)?$/.test(timeoutText) || timeoutSeconds <= 0 || timeoutSeconds > 2_000_000) {
    throw usageError(`--timeout-seconds must be a positive number of seconds, got "${timeoutText}"`);
  }
  const credential = sim === undefined ? await defaultCredential() : staticTokenCredential(sim.token);
  const baseUrl = flags.baseUrl ?? sim?.baseUrl;
  try {
    return createAdrClient({
      subscriptionId: subscriptionId as string,
      resourceGroup: resourceGroup as string,
      namespace: namespace as string,
      credential,
      baseUrl,
      ca,
      timeoutMs: timeoutSeconds * 1000,
      userAgentPrefix: `skittle-cli/${cliVersion()}`,
      logger: stderrLogger(io, flags.verbose === true),
    });
  } catch (error) {
    if (isAdrError(error) && error.code === "ADR_INVALID_OPTIONS") throw usageError(error.message);
    throw error;
  }
}

async function defaultCredential(): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import("@azure/identity");
  return new DefaultAzureCredential();
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

function devicesTable(client: AdrClient, devices: readonly AdrDevice[]): string {
  if (devices.length === 0) return `no devices in namespace ${client.namespace}`;
  const rows = devices.map((device) => [
    device.name,
    device.properties?.enabled === false ? "no" : "yes",
    device.properties?.operatingSystemVersion ?? "-",
    device.properties?.provisioningState ?? "-",
    device.properties?.externalDeviceId ?? "-",
  ]);
  return [
    `${devices.length} device${devices.length === 1 ? "" : "s"} in namespace ${client.namespace}:`,
    table([["NAME", "ENABLED", "OS VERSION", "STATE", "EXTERNAL ID"], ...rows]),
  ].join("\n");
}

function policiesTable(client: AdrClient, policies: readonly AdrCredentialPolicy[]): string {
  if (policies.length === 0) return `no credential policies in namespace ${client.namespace}`;
  const rows = policies.map((policy) => {
    const certificate = policy.properties?.certificate;
    return [
      policy.name,
      certificate?.certificateAuthorityConfiguration?.keyType ?? "-",
      String(certificate?.leafCertificateConfiguration?.validityPeriodInDays ?? "-"),
      certificate?.certificateAuthorityConfiguration?.subject ?? "-",
      policy.properties?.provisioningState ?? "-",
    ];
  });
  return [
    `${policies.length} credential polic${policies.length === 1 ? "y" : "ies"} in namespace ${client.namespace}:`,
    table([["NAME", "KEY TYPE", "LEAF DAYS", "CA SUBJECT", "STATE"], ...rows]),
  ].join("\n");
}

function deviceText(device: AdrDevice): string {
  const p = device.properties ?? {};
  const os = [p.operatingSystem, p.operatingSystemVersion].filter((part) => part !== undefined).join(" ");
  const made = [p.manufacturer, p.model].filter((part) => part !== undefined).join(" ");
  return lines([
    ["name", device.name],
    ["id", device.id],
    ["location", device.location],
    ["enabled", p.enabled === undefined ? undefined : String(p.enabled)],
    ["external id", p.externalDeviceId],
    ["operating system", os === "" ? undefined : os],
    ["hardware", made === "" ? undefined : made],
    ["state", p.provisioningState],
    ["policy", p.policy?.resourceId],
    ["attributes", p.attributes === undefined ? undefined : JSON.stringify(p.attributes)],
    ["tags", device.tags === undefined ? undefined : JSON.stringify(device.tags)],
    ["etag", device.etag],
    ["created", stamp(device.systemData?.createdAt, device.systemData?.createdBy)],
    ["modified", stamp(device.systemData?.lastModifiedAt, device.systemData?.lastModifiedBy)],
  ]);
}

function policyText(policy: AdrCredentialPolicy): string {
  const certificate = policy.properties?.certificate;
  const ca = certificate?.certificateAuthorityConfiguration;
  const validity =
    ca?.validityNotBefore === undefined && ca?.validityNotAfter === undefined
      ? undefined
      : `${ca?.validityNotBefore ?? "?"} → ${ca?.validityNotAfter ?? "?"}`;
  const days = certificate?.leafCertificateConfiguration?.validityPeriodInDays;
  return lines([
    ["name", policy.name],
    ["id", policy.id],
    ["CA key type", ca?.keyType],
    ["CA subject", ca?.subject],
    ["CA validity", validity],
    ["leaf validity", days === undefined ? undefined : `${days} days`],
    ["state", policy.properties?.provisioningState],
  ]);
}

function stamp(at: string | undefined, by: string | undefined): string | undefined {
  if (at === undefined) return undefined;
  return by === undefined ? at : `${at} by ${by}`;
}

function lines(entries: readonly [string, string | undefined][]): string {
  const shown = entries.filter((entry): entry is [string, string] => entry[1] !== undefined);
  const width = Math.max(...shown.map(([label]) => label.length)) + 2;
  return shown.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`).join("\n");
}

function table(rows: readonly string[][]): string {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join("  "),
    )
    .join("\n");
}
