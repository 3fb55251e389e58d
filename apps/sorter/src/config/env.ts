import { resolve } from "node:path";
import type { ConfigProblem } from "../errors.ts";
import { isPlainObject } from "./appsettings.ts";
import { objectShape, rawConfigSchema } from "./schema.ts";

export const ENV_PREFIX = "SKITTLE__";

/** `SKITTLE__IoTHub__DpsProvisioning__IdScope=…` sets `IoTHub.DpsProvisioning.IdScope` (case-insensitive keys). */
export function applyEnvOverrides(
  tree: Record<string, unknown>,
  env: Record<string, string | undefined>,
  problems: ConfigProblem[],
): Record<string, unknown> {
  const out = structuredClone(tree);
  const entries = Object.entries(env)
    .filter(
      (entry): entry is [string, string] =>
        entry[0].toUpperCase().startsWith(ENV_PREFIX) && entry[1] !== undefined,
    )
    .sort(([a], [b]) => a.localeCompare(b));
  for (const [name, value] of entries) {
    const segments = name.slice(ENV_PREFIX.length).split("__");
    if (segments.some((segment) => segment === "")) {
      problems.push({
        path: name,
        message: "is not a valid override name.",
        fix: `use ${ENV_PREFIX}Section__Key, e.g. ${ENV_PREFIX}IoTHub__DpsProvisioning__IdScope.`,
      });
      continue;
    }
    let node: Record<string, unknown> = out;
    let shape: unknown = rawConfigSchema;
    segments.forEach((segment, index) => {
      const keys = objectShape(shape);
      const canonical =
        (keys && Object.keys(keys).find((key) => key.toLowerCase() === segment.toLowerCase())) ??
        Object.keys(node).find((key) => key.toLowerCase() === segment.toLowerCase()) ??
        segment;
      shape = keys?.[canonical];
      if (index === segments.length - 1) {
        node[canonical] = value;
        return;
      }
      const next = node[canonical];
      if (!isPlainObject(next)) node[canonical] = {};
      node = node[canonical] as Record<string, unknown>;
    });
  }
  return out;
}

/** The first of systemd's `$STATE_DIRECTORY` paths (set for units with `StateDirectory=`; colon-separated). */
export function systemdStateDirectory(env: Record<string, string | undefined>): string | undefined {
  const first = env.STATE_DIRECTORY?.split(":")[0];
  return first === undefined || first === "" ? undefined : resolve(first);
}
