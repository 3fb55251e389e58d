import { readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { CliError } from "@skittlesorter/cli-shell";

/** A parsed `sim.json` written by a running `skittle-sim` (DESIGN §4). */
export interface SimFile {
  /** Absolute path of the sim.json. */
  file: string;
  json: Record<string, unknown>;
}

/** The `adr` section of sim.json. */
export interface SimAdr {
  baseUrl: string;
  subscriptionId: string;
  resourceGroup: string;
  namespace: string;
  token: string;
}

/** What `skittle provision --sim` takes from sim.json. */
export interface SimDps {
  host: string;
  port: number;
  wsPort: number | undefined;
  idScope: string;
  /** PEM of the simulator's TLS root. */
  ca: string;
  /** Primary key of the first symmetric-key enrollment group (the demo's default group). */
  groupKey: string | undefined;
}

/** Reads the sim.json at `path`, or in `path` when it is a directory (skittle-sim's `--data-dir`). */
export async function readSimFile(path: string): Promise<SimFile> {
  const given = resolve(path);
  const isDirectory = await stat(given).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
  const file = isDirectory ? join(given, "sim.json") : given;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new CliError(
      "SIM_FILE_UNREADABLE",
      `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); start the simulator with \`skittle-sim start --data-dir DIR\` and pass --sim DIR (or DIR/sim.json)`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliError("SIM_FILE_INVALID", `${file} is not JSON; pass the sim.json the simulator wrote`, {
      cause: error,
    });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new CliError(
      "SIM_FILE_INVALID",
      `${file} is not a JSON object; pass the sim.json the simulator wrote`,
    );
  }
  return { file, json: json as Record<string, unknown> };
}

function section(sim: SimFile, name: string, hint: string): Record<string, unknown> {
  const value = sim.json[name];
  if (typeof value !== "object" || value === null) {
    throw new CliError("SIM_FILE_INVALID", `${sim.file} has no "${name}" section; ${hint}`);
  }
  return value as Record<string, unknown>;
}

function requireStrings<K extends string>(
  sim: SimFile,
  prefix: string,
  value: Record<string, unknown>,
  fields: readonly K[],
): Record<K, string> {
  const bad = fields.filter((field) => typeof value[field] !== "string" || value[field] === "");
  if (bad.length > 0) {
    throw new CliError(
      "SIM_FILE_INVALID",
      `${sim.file}: ${bad.map((field) => `${prefix}.${field}`).join(", ")} missing or not a string`,
    );
  }
  return value as Record<K, string>;
}

/** Path of the simulator's TLS root, resolved against the sim.json's folder. */
export function simTrustedCaFile(sim: SimFile): string | undefined {
  const value = sim.json.trustedCaFile;
  return typeof value === "string" ? resolve(dirname(sim.file), value) : undefined;
}

export function simAdr(sim: SimFile): SimAdr {
  const adr = section(
    sim,
    "adr",
    "this simulator does not serve the ADR REST API (update it), or pass --subscription/--resource-group/--namespace/--base-url",
  );
  return requireStrings(sim, "adr", adr, [
    "baseUrl",
    "subscriptionId",
    "resourceGroup",
    "namespace",
    "token",
  ]);
}

export async function simDps(sim: SimFile): Promise<SimDps> {
  const dps = section(sim, "dps", "pass the sim.json of a running skittle-sim, or --host/--id-scope");
  const { host } = requireStrings(sim, "dps", dps, ["host"]);
  if (typeof dps.port !== "number") {
    throw new CliError("SIM_FILE_INVALID", `${sim.file}: dps.port missing or not a number`);
  }
  const { idScope } = requireStrings(sim, "sim", sim.json, ["idScope"]);
  const caFile = simTrustedCaFile(sim);
  if (caFile === undefined) {
    throw new CliError("SIM_FILE_INVALID", `${sim.file}: trustedCaFile missing or not a string`);
  }
  const ca = await readFile(caFile, "utf8").catch((error: unknown) => {
    throw new CliError(
      "SIM_FILE_INVALID",
      `cannot read the simulator's root ${caFile}; is the simulator still running?`,
      {
        cause: error,
      },
    );
  });
  const groups = Array.isArray(sim.json.enrollmentGroups) ? (sim.json.enrollmentGroups as unknown[]) : [];
  const group = groups.find(
    (entry): entry is { primaryKey: string } =>
      typeof entry === "object" &&
      entry !== null &&
      (entry as Record<string, unknown>).attestation === "symmetricKey" &&
      typeof (entry as Record<string, unknown>).primaryKey === "string",
  );
  return {
    host,
    port: dps.port,
    wsPort: typeof dps.wsPort === "number" ? dps.wsPort : undefined,
    idScope,
    ca,
    groupKey: group?.primaryKey,
  };
}
