import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "./repo.ts";

/** The workspace package (the nearest folder with a package.json) that holds `file`. */
function packageRootOf(file: string): string {
  let dir = dirname(file);
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
}

const SPECIFIER = /(?:from\s+|import\s*\(\s*|import\s+)["'](\.{1,2}\/[^"']+)["']/g;

it("no code imports another package's or app's source by relative path (import the package by name)", async () => {
  const offenders: string[] = [];
  for (const root of ["apps", "packages", "bench", "scripts", "deploy"]) {
    for (const entry of await readdir(join(repoRoot, root), { recursive: true })) {
      if (
        !/\.(ts|mts|mjs|js)$/.test(entry) ||
        entry.split(sep).some((part) => part === "node_modules" || part === "dist")
      )
        continue;
      const file = join(repoRoot, root, entry);
      const home = packageRootOf(file);
      for (const [, specifier] of (await readFile(file, "utf8")).matchAll(SPECIFIER)) {
        const target = resolve(dirname(file), specifier as string);
        if (!existsSync(target)) continue; // a specifier inside a template or a string, not a real import
        // Shared root config (vitest.shared.ts, tsconfig.base.json) is fine; another package's files are not.
        const owner = packageRootOf(target);
        if (owner !== home && owner !== repoRoot)
          offenders.push(`${relative(repoRoot, file)} → ${specifier}`);
      }
    }
  }
  expect(offenders).toEqual([]);
});
