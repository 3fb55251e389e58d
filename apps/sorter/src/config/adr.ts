import type { Resolution } from "./context.ts";
import { ENV_PREFIX } from "./env.ts";
import type { RawConfig } from "./schema.ts";
import type { AdrSettings } from "./types.ts";

/** Azure Device Registry updates, when `Adr.Enabled` is true. */
export function resolveAdr(raw: RawConfig, { problem }: Resolution): AdrSettings | undefined {
  const adrRaw = raw.Adr ?? {};
  if (adrRaw.Enabled !== true) return undefined;
  for (const key of ["SubscriptionId", "ResourceGroupName", "NamespaceName"] as const) {
    if (adrRaw[key] === undefined) {
      problem(
        `Adr.${key}`,
        "is required when Adr.Enabled is true.",
        "copy it from your ADR namespace, or set Adr.Enabled to false.",
      );
    }
  }
  const du = adrRaw.DeviceUpdate;
  const adr: AdrSettings = {
    subscriptionId: adrRaw.SubscriptionId ?? "",
    resourceGroup: adrRaw.ResourceGroupName ?? "",
    namespace: adrRaw.NamespaceName ?? "",
    baseUrl: adrRaw.BaseUrl,
    token: adrRaw.Token,
    deviceUpdate:
      du?.Enabled === true
        ? {
            attributes: du.Attributes ?? {},
            tags: du.Tags ?? {},
            enabled: du.DeviceEnabled ?? true,
            operatingSystemVersion: du.OperatingSystemVersion,
          }
        : undefined,
  };
  if (adr.token === undefined) {
    problem(
      "Adr.Token",
      "is required when Adr.Enabled is true (a bearer token for the ARM API).",
      `set ${ENV_PREFIX}Adr__Token in the environment (the simulator's sim.json has adr.token), or set Adr.Enabled to false.`,
    );
  }
  return adr;
}
