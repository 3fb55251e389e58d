import { dirname, resolve } from "node:path";
import * as v from "valibot";
import { ConfigError, type ConfigProblem } from "../errors.ts";
import { resolveAdr } from "./adr.ts";
import { canonicalizeKeys, emptyStringsToUndefined, stripComments, substituteTokens } from "./appsettings.ts";
import { createResolution } from "./context.ts";
import { applyEnvOverrides } from "./env.ts";
import {
  resolveChutes,
  resolveEmulated,
  resolveHardware,
  resolvePositions,
  resolveRig,
  resolveSensor,
} from "./hardware.ts";
import { issuePaths, problemsFromIssue } from "./problems.ts";
import { type RawConfig, rawConfigSchema } from "./schema.ts";
import { resolveCredentials, resolveDataDir, resolveOutbox } from "./storage.ts";
import { resolveTelemetry } from "./telemetry.ts";
import type { ResolveConfigOptions, SorterConfig } from "./types.ts";

/** Validates and resolves an already parsed configuration object. Throws {@link ConfigError}. */
export function resolveConfig(input: unknown, options: ResolveConfigOptions = {}): SorterConfig {
  const file = options.file;
  const configDir = file === undefined ? resolve(options.configDir ?? ".") : dirname(file);
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError("CONFIG_INVALID", file, [
      {
        path: "(file)",
        message: "must hold a JSON object with sections such as IoTHub and ServoPositions.",
        fix: "start from a template in apps/sorter/config/.",
      },
    ]);
  }
  const problems: ConfigProblem[] = [];
  let tree = canonicalizeKeys(stripComments(input as Record<string, unknown>), rawConfigSchema);
  tree = applyEnvOverrides(tree, options.env ?? {}, problems);
  tree = emptyStringsToUndefined(tree) as Record<string, unknown>;

  let parsed = v.safeParse(rawConfigSchema, tree);
  if (!parsed.success) {
    // Report the type problems, then drop the offending values and check the rest too, so that one run lists
    // every problem.
    for (const issue of parsed.issues) {
      problems.push(...problemsFromIssue(issue));
      removeAt(tree, issuePaths(issue));
    }
    parsed = v.safeParse(rawConfigSchema, tree);
  }
  if (parsed.success) {
    const registrationId = parsed.output.IoTHub?.DpsProvisioning?.RegistrationId;
    const data = substituteTokens(parsed.output, registrationId) as RawConfig;
    const known = new Set(problems.map((problem) => problem.path));
    const semantic: ConfigProblem[] = [];
    const config = buildConfig(data, { ...options, configDir, file }, semantic);
    problems.push(...semantic.filter((problem) => !known.has(problem.path)));
    if (problems.length === 0) return config;
  }
  throw new ConfigError("CONFIG_INVALID", file, problems);
}

/** The resolved configuration, section by section; semantic problems go to `problems`. */
function buildConfig(
  raw: RawConfig,
  options: ResolveConfigOptions & { configDir: string },
  problems: ConfigProblem[],
): SorterConfig {
  const context = createResolution(options.configDir, problems);
  const emulated = resolveEmulated(raw, options, context);
  const hardware = resolveHardware(raw, context);
  const positions = resolvePositions(raw, hardware.pick, context);
  const chutes = resolveChutes(raw, hardware.chute, context);
  const sensor = resolveSensor(raw, context);
  const rig = resolveRig(raw, options, context);
  const { telemetry, dps } = resolveTelemetry(raw, context);
  const dataDir = resolveDataDir(raw, options, context);
  const credentials = resolveCredentials(raw, dataDir, dps, context);
  return {
    file: options.file,
    configDir: options.configDir,
    dataDir,
    emulated,
    positions,
    chutes,
    hardware,
    sensor,
    rig,
    telemetry,
    dps,
    credentials,
    outbox: resolveOutbox(raw, dataDir, context),
    adr: resolveAdr(raw, context),
    warnings: context.warnings,
  };
}

function removeAt(tree: Record<string, unknown>, paths: readonly (readonly PropertyKey[])[]): void {
  for (const path of paths) {
    let node: unknown = tree;
    path.forEach((segment, index) => {
      if (node === null || typeof node !== "object") return;
      const container = node as Record<string, unknown>;
      if (index === path.length - 1) delete container[String(segment)];
      else node = container[String(segment)];
    });
  }
}
