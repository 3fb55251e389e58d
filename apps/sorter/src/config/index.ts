import { resolve } from "node:path";
import { readAppsettings } from "./appsettings.ts";
import { resolveConfig } from "./resolve.ts";
import type { LoadConfigOptions, SorterConfig } from "./types.ts";

export { ENV_PREFIX } from "./env.ts";
export { DEFAULT_TRAVEL_MARGIN_PERCENT } from "./hardware.ts";
export { resolveConfig } from "./resolve.ts";
export { type RawConfig, rawConfigSchema } from "./schema.ts";
export { BUNDLED_EMULATED_CONFIG, TEMPLATE_FILES } from "./templates.ts";
export * from "./types.ts";

/** Reads, overrides from the environment, validates and resolves `appsettings.json`. Throws {@link ConfigError}. */
export async function loadConfig(file: string, options: LoadConfigOptions = {}): Promise<SorterConfig> {
  const path = resolve(file);
  return resolveConfig(await readAppsettings(path), { ...options, file: path });
}

/** The resolved configuration as shown to people: secrets replaced. */
export function redactConfig(config: SorterConfig): unknown {
  return JSON.parse(
    JSON.stringify(config, (key, value: unknown) =>
      ["groupKey", "deviceKey", "token"].includes(key) && typeof value === "string" ? "(hidden)" : value,
    ),
  ) as unknown;
}
