// Parsing and checking of the options the `skittle pki` commands share, and their defaults.
import { resolve } from "node:path";
import type { CommandContext } from "@skittlesorter/cli-shell";
import { CliError, usageError } from "@skittlesorter/cli-shell";
import { DEFAULT_KEY_TYPE, KEY_TYPES } from "@skittlesorter/csr";
import { Option } from "commander";
import { CA_NAME_PATTERN, caNamesIn } from "./layout.ts";

/** The original setup scripts' lifetimes (days). */
export const PKI_DEFAULT_DAYS = { root: 3650, intermediate: 1825, device: 365, verification: 1 } as const;

export const keyTypeOption = (what: string): Option =>
  new Option("--key-type <type>", `key algorithm and size of ${what}`)
    .choices([...KEY_TYPES])
    .default(DEFAULT_KEY_TYPE);

export function resolvePath(ctx: CommandContext, flag: string, value: string): string {
  if (value.trim() === "") throw usageError(`${flag} must not be empty`);
  return resolve(ctx.io.cwd, value);
}

export function parseDays(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 36500) {
    throw usageError(`${flag} must be a whole number of days from 1 to 36500, got "${value}"`);
  }
  return Number(value);
}

export function checkedCaName(value: string): string {
  if (!CA_NAME_PATTERN.test(value)) {
    throw usageError(
      `--name "${value}" is not usable: use 1-50 letters, digits, ".", "_" or "-", starting and ending with a letter or digit (it prefixes the CNs and file names)`,
    );
  }
  return value;
}

export async function chooseCaName(caDir: string, name: string | undefined): Promise<string> {
  if (name !== undefined) return checkedCaName(name);
  const names = await caNamesIn(caDir);
  if (names.length === 1) return names[0] as string;
  if (names.length === 0) {
    throw new CliError(
      "CA_NOT_FOUND",
      `${caDir} holds no CA ({name}-intermediate.cert.pem): create one with \`skittle pki init --name <name> --out-dir ${caDir}\`, or fix --ca-dir.`,
    );
  }
  throw usageError(`${caDir} holds several CAs (${names.join(", ")}): choose one with --name`);
}
