// Fails a pull request that changes a published package without a changeset (CI: .github/workflows/ci.yml).
//   node scripts/check-changeset.mjs [BASE]     BASE: the branch or commit to compare with (default origin/main)
// A published package is apps/* or packages/* without "private": true. A change is any file in its folder except
// tests, test support and fixtures (they are not shipped). It counts as covered when a .changeset/*.md added on
// the branch names the package in its frontmatter; an empty changeset (`pnpm changeset --empty`) states that the
// branch releases nothing and covers every package.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const NOT_SHIPPED = [
  /\.test\.ts$/,
  /\.test-support\.ts$/,
  /(^|\/)__fixtures__\//,
  /(^|\/)vitest\.config\.ts$/,
];

/** Published packages of the workspace at `root`: { dir: "packages/core", name: "@skittlesorter/core" }. */
export function publishedPackages(root) {
  const found = [];
  for (const group of ["packages", "apps"]) {
    if (!existsSync(join(root, group))) continue;
    for (const folder of readdirSync(join(root, group)).sort()) {
      const manifestFile = join(root, group, folder, "package.json");
      if (!existsSync(manifestFile)) continue;
      const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
      if (manifest.private !== true) found.push({ dir: `${group}/${folder}`, name: manifest.name });
    }
  }
  return found;
}

/** The package names in a changeset's frontmatter; [] for an empty changeset; undefined when it has none. */
export function changesetPackages(text) {
  const frontmatter = /^---\r?\n([\s\S]*?)^---/m.exec(text);
  if (frontmatter === null) return undefined;
  return [...frontmatter[1].matchAll(/^\s*["']?(@?[^"':\s]+)["']?\s*:/gm)].map((match) => match[1]);
}

/**
 * The published packages changed without a changeset naming them.
 * `changedFiles`: paths relative to the root; `changesets`: { file, text } of the changesets added on the branch.
 */
export function packagesMissingChangesets({ changedFiles, packages, changesets }) {
  const named = changesets.map(({ text }) => changesetPackages(text)).filter((names) => names !== undefined);
  if (named.some((names) => names.length === 0)) return [];
  const covered = new Set(named.flat());
  return packages.filter(
    ({ dir, name }) =>
      !covered.has(name) &&
      changedFiles.some(
        (file) => file.startsWith(`${dir}/`) && !NOT_SHIPPED.some((pattern) => pattern.test(file)),
      ),
  );
}

function git(root, args) {
  return execFileSync("git", args, { cwd: root, encoding: "utf8" });
}

/** Checks the branch checked out at `root` against `base`; resolves with { missing, message }. */
export function checkChangesets(root, base) {
  const range = `${base}...HEAD`;
  const changedFiles = git(root, ["diff", "--name-only", "--no-renames", range]).split("\n").filter(Boolean);
  const added = git(root, ["diff", "--name-only", "--diff-filter=AM", range, "--", ".changeset/*.md"])
    .split("\n")
    .filter((file) => file !== "" && !file.endsWith("README.md"));
  const changesets = added.map((file) => ({ file, text: readFileSync(join(root, file), "utf8") }));
  const missing = packagesMissingChangesets({ changedFiles, packages: publishedPackages(root), changesets });
  const message =
    missing.length === 0
      ? `check-changeset: ok (${changesets.length} changeset(s) on this branch)`
      : [
          `check-changeset: these published packages change on this branch without a changeset:`,
          ...missing.map(({ dir, name }) => `  ${name} (${dir})`),
          "Add one: npx -y pnpm@12.4.2 changeset (pick the packages, patch or minor, one line for the changelog).",
          "If the change does not need a release (docs, internal refactor): npx -y pnpm@12.4.2 changeset --empty",
        ].join("\n");
  return { missing, message };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
  const base = process.argv[2] ?? "origin/main";
  try {
    const { missing, message } = checkChangesets(root, base);
    (missing.length === 0 ? process.stdout : process.stderr).write(`${message}\n`);
    process.exitCode = missing.length === 0 ? 0 : 1;
  } catch (error) {
    process.stderr.write(
      `check-changeset: cannot compare with ${base} (${error.message.split("\n")[0]}). ` +
        "Fetch it first (actions/checkout with fetch-depth: 0, or git fetch origin main).\n",
    );
    process.exitCode = 2;
  }
}
