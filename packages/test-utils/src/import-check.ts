import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Imports `entries` (source files, e.g. `new URL("./index.ts", import.meta.url)`) in a fresh Node process, as a
 * consumer would, and returns the paths of the CommonJS modules that import loaded whose path contains `needle`.
 * Used to prove that importing a package does not load an optional native module.
 */
export async function modulesLoadedByImport(entries: readonly URL[], needle: string): Promise<string[]> {
  const paths = entries.map((entry) => fileURLToPath(entry));
  const script = `
    import { createRequire } from "node:module";
    for (const entry of ${JSON.stringify(paths)}) await import(entry);
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes(${JSON.stringify(needle)}));
    process.stdout.write(JSON.stringify(loaded));
  `;
  const first = entries[0];
  const { stdout } = await run(
    process.execPath,
    ["--conditions=@skittlesorter/source", "--import", "tsx", "--input-type=module", "-e", script],
    { cwd: first === undefined ? process.cwd() : fileURLToPath(new URL("..", first)) },
  );
  return JSON.parse(stdout) as string[];
}
