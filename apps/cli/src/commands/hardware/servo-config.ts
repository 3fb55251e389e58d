import { randomBytes } from "node:crypto";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { CliError } from "@skittlesorter/cli-shell";

/** Where the sorter reads the PCA9685's calibrated oscillator (apps/sorter `appsettings.json`). */
export const OSCILLATOR_CONFIG_KEY = { section: "Hardware", key: "Pca9685OscillatorHz" } as const;

const configError = (file: string, problem: string, cause?: unknown): CliError =>
  new CliError("CONFIG_WRITE_FAILED", `${file} ${problem}`, { cause });

/** The key in `object` that matches `wanted` case-insensitively (the sorter reads keys that way), if any. */
function keyLike(object: Record<string, unknown>, wanted: string): string | undefined {
  return Object.keys(object).find((key) => key.toLowerCase() === wanted.toLowerCase());
}

/**
 * Sets `Hardware.Pca9685OscillatorHz` in the sorter's JSON configuration, keeping every other key, their order, the
 * file's indentation and its permissions (it may hold secrets); the file is replaced atomically.
 */
export async function writeOscillatorToConfig(file: string, oscillatorHz: number): Promise<void> {
  let text: string;
  let mode: number;
  try {
    text = await readFile(file, "utf8");
    mode = (await stat(file)).mode & 0o777;
  } catch (error) {
    const missing = (error as { code?: unknown }).code === "ENOENT";
    throw configError(
      file,
      missing
        ? "does not exist. Pass the sorter's configuration (e.g. /etc/skittle-sorter/appsettings.json), or leave out --write-config and set the key by hand."
        : `cannot be read (${(error as Error).message}).`,
      error,
    );
  }
  const bom = text.startsWith("\uFEFF") ? "\uFEFF" : "";
  let config: unknown;
  try {
    config = JSON.parse(text.slice(bom.length));
  } catch (error) {
    throw configError(
      file,
      `is not valid JSON (${(error as Error).message}); fix it first, nothing was written.`,
      error,
    );
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw configError(
      file,
      "does not hold a JSON object; it is not a sorter configuration, nothing was written.",
    );
  }
  const root = config as Record<string, unknown>;
  const sectionKey = keyLike(root, OSCILLATOR_CONFIG_KEY.section) ?? OSCILLATOR_CONFIG_KEY.section;
  const section = root[sectionKey] ?? {};
  if (section === null || typeof section !== "object" || Array.isArray(section)) {
    throw configError(
      file,
      `has a "${sectionKey}" that is not an object; fix it first, nothing was written.`,
    );
  }
  const hardware = section as Record<string, unknown>;
  hardware[keyLike(hardware, OSCILLATOR_CONFIG_KEY.key) ?? OSCILLATOR_CONFIG_KEY.key] = oscillatorHz;
  root[sectionKey] = hardware;

  const indent = /\n([ \t]+)"/.exec(text)?.[1] ?? "  ";
  const newline = text.includes("\r\n") ? "\r\n" : "\n";
  let output = JSON.stringify(root, null, indent);
  if (newline !== "\n") output = output.replaceAll("\n", newline);
  if (/\r?\n$/.test(text)) output += newline;
  const temporary = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, bom + output, { mode, flag: "wx" });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw configError(file, `could not be written (${(error as Error).message}); it is unchanged.`, error);
  }
}
