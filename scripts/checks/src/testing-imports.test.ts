import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "./repo.ts";

const isTestCode = (file: string) => /\.test(-support)?\.ts$/.test(file) || file.endsWith("/conformance.ts");

it("production code imports emulators from `/emulator`, never a package's `/testing` subpath", async () => {
  const offenders: string[] = [];
  for (const root of ["apps", "packages"]) {
    for (const entry of await readdir(join(repoRoot, root), { recursive: true })) {
      const file = join(repoRoot, root, entry);
      if (!entry.endsWith(".ts") || entry.includes("node_modules") || !entry.includes("src/")) continue;
      if (isTestCode(file)) continue;
      if (/from "@skittlesorter\/[a-z0-9-]+\/testing"/.test(await readFile(file, "utf8"))) {
        offenders.push(relative(repoRoot, file));
      }
    }
  }
  expect(offenders).toEqual([]);
});
