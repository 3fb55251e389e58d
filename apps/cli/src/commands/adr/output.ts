// The text `skittle adr` prints for devices and credential policies (--json prints the ADR resources instead).
import type { AdrClient, AdrCredentialPolicy, AdrDevice } from "@skittlesorter/adr-client";

export function devicesTable(client: AdrClient, devices: readonly AdrDevice[]): string {
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

export function policiesTable(client: AdrClient, policies: readonly AdrCredentialPolicy[]): string {
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

export function deviceText(device: AdrDevice): string {
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

export function policyText(policy: AdrCredentialPolicy): string {
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
