// scripts/check-changeset.mjs: the CI check that a pull request changing a published package carries a changeset.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { changesetPackages, packagesMissingChangesets } from "../check-changeset.mjs";

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), "../check-changeset.mjs");
const packages = [
  { dir: "packages/core", name: "@skittlesorter/core" },
  { dir: "apps/sorter", name: "@skittlesorter/sorter" },
];

describe("packagesMissingChangesets", () => {
  it("names each published package changed without a changeset that names it", () => {
    const missing = packagesMissingChangesets({
      changedFiles: ["packages/core/src/errors.ts", "apps/sorter/src/cli.ts", "README.md"],
      packages,
      changesets: [{ file: ".changeset/a.md", text: '---\n"@skittlesorter/sorter": patch\n---\n\nFix.\n' }],
    });
    expect(missing.map(({ name }) => name)).toEqual(["@skittlesorter/core"]);
  });

  it("ignores tests, test support, fixtures and files outside the published packages", () => {
    const missing = packagesMissingChangesets({
      changedFiles: [
        "packages/core/src/errors.test.ts",
        "packages/core/src/fake.test-support.ts",
        "packages/core/src/__fixtures__/a.pem",
        "packages/core/vitest.config.ts",
        "packages/test-utils/src/index.ts",
        "deploy/pi/install.sh",
      ],
      packages,
      changesets: [],
    });
    expect(missing).toEqual([]);
  });

  it("accepts an empty changeset as 'nothing to release'", () => {
    const missing = packagesMissingChangesets({
      changedFiles: ["packages/core/src/errors.ts"],
      packages,
      changesets: [{ file: ".changeset/none.md", text: "---\n---\n" }],
    });
    expect(missing).toEqual([]);
  });

  it("reads quoted and unquoted package names from the frontmatter", () => {
    expect(
      changesetPackages("---\n\"@skittlesorter/a\": minor\n'@skittlesorter/b': patch\n---\nText: here\n"),
    ).toEqual(["@skittlesorter/a", "@skittlesorter/b"]);
    expect(changesetPackages("no frontmatter")).toBeUndefined();
  });
});

describe("node scripts/check-changeset.mjs BASE (in a git repository)", () => {
  let repo: string;
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo });
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), text);
  };

  beforeEach(() => {
    repo = mkdtempSync(join(tmpdir(), "skittle-changeset-"));
    git("init", "-q", "-b", "main");
    write("packages/core/package.json", '{ "name": "@skittlesorter/core" }\n');
    write("packages/core/src/index.ts", "export {};\n");
    write("packages/test-utils/package.json", '{ "name": "@skittlesorter/test-utils", "private": true }\n');
    write("scripts/check-changeset.mjs", readFileSync(SCRIPT, "utf8"));
    git("add", ".");
    git("commit", "-qm", "base");
    git("checkout", "-qb", "feature");
  });

  afterEach(() => {
    rmSync(repo, { recursive: true, force: true });
  });

  it("fails a branch that changes a published package without a changeset, and says how to add one", () => {
    // The script checks the repository it lives in: the scratch repository holds a copy.
    write("packages/core/src/index.ts", "export const x = 1;\n");
    git("add", ".");
    git("commit", "-qm", "change core");
    const run = () =>
      spawnSync(process.execPath, ["scripts/check-changeset.mjs", "main"], { cwd: repo, encoding: "utf8" });
    const failing = run();
    expect(failing.status).toBe(1);
    expect(failing.stderr).toContain("@skittlesorter/core (packages/core)");
    expect(failing.stderr).toContain("changeset");

    write(".changeset/core-x.md", '---\n"@skittlesorter/core": patch\n---\n\nAdds x.\n');
    git("add", ".");
    git("commit", "-qm", "changeset");
    const passing = run();
    expect(passing.stderr).toBe("");
    expect(passing.status).toBe(0);
  });
});
