import { readFile } from "node:fs/promises";
import { ConfigError, describeError } from "../errors.ts";
import { objectShape } from "./schema.ts";

// Compatibility with the original C# app's appsettings.json: comment keys, .NET's case-insensitive keys, empty
// strings for unset values, and the `{RegistrationId}` token.

/** The parsed JSON of an appsettings file. Throws {@link ConfigError}. */
export async function readAppsettings(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const missing = (error as { code?: unknown }).code === "ENOENT";
    throw new ConfigError("CONFIG_NOT_FOUND", path, [
      {
        path: "(file)",
        message: missing ? "does not exist." : `cannot be read (${describeError(error)}).`,
        fix: missing
          ? "copy apps/sorter/config/appsettings.sas.template.json (or .x509.template.json) to this path and fill it in, or pass --config with the right path."
          : "check the file's permissions.",
      },
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    throw new ConfigError(
      "CONFIG_INVALID_JSON",
      path,
      [
        {
          path: "(file)",
          message: `is not valid JSON (${describeError(error)}).`,
          fix: "fix the syntax (no comments or trailing commas in JSON); compare with the templates in apps/sorter/config/.",
        },
      ],
      { cause: error },
    );
  }
  return raw;
}

/** Keys starting with `_` or `$` (`"_comment"`, `"$schema"`) are comments. */
export function stripComments(tree: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    if (key.startsWith("_") || key.startsWith("$")) continue;
    out[key] = isPlainObject(value) ? stripComments(value) : value;
  }
  return out;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Configuration keys are case-insensitive (as in .NET): rename keys to the schema's spelling. */
export function canonicalizeKeys(tree: Record<string, unknown>, schema: unknown): Record<string, unknown> {
  const shape = objectShape(schema);
  if (shape === undefined) return tree;
  const byLower = new Map(Object.keys(shape).map((key) => [key.toLowerCase(), key]));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    const canonical = byLower.get(key.toLowerCase()) ?? key;
    out[canonical] = isPlainObject(value) ? canonicalizeKeys(value, shape[canonical]) : value;
  }
  return out;
}

export function emptyStringsToUndefined(value: unknown): unknown {
  if (typeof value === "string") return value.trim() === "" ? undefined : value;
  if (Array.isArray(value)) return value.map(emptyStringsToUndefined);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      const next = emptyStringsToUndefined(inner);
      if (next !== undefined) out[key] = next;
    }
    return out;
  }
  return value;
}

/** Replaces `{RegistrationId}` (any case) in every string value, as the original did in paths and DeviceId. */
export function substituteTokens(value: unknown, registrationId: string | undefined): unknown {
  if (typeof value === "string") {
    return registrationId === undefined
      ? value
      : value.replace(/\{registrationid\}/gi, registrationId.toLowerCase());
  }
  if (Array.isArray(value)) return value.map((item) => substituteTokens(item, registrationId));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = key === "RegistrationId" ? inner : substituteTokens(inner, registrationId);
    }
    return out;
  }
  return value;
}
