// How `changeset version` bumps our packages, checked in a throw-away copy of the workspace manifests (never the
// real repo): a sample changeset on one package bumps it and its dependents, and nothing else.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const changesetBin = join(repo, "node_modules", ".bin", "changeset");

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** Workspace package folders (relative), as pnpm-workspace.yaml lists them: packages/* and apps/*. */
function packageDirs(base: string): string[] {
  return ["packages", "apps"].flatMap((group) =>
    readdirSync(join(base, group))
      .sort()
      .map((name) => `${group}/${name}`)
      .filter((dir) => existsSync(join(base, dir, "package.json"))),
  );
}

function readManifests(base: string): Map<string, Manifest> {
  return new Map(
    packageDirs(base).map((dir) => {
      const manifest = JSON.parse(readFileSync(join(base, dir, "package.json"), "utf8")) as Manifest;
      return [manifest.name, manifest];
    }),
  );
}

/** A fingerprint of everything `changeset version` could write in the real repo. */
function repoFingerprint(): string {
  const hash = createHash("sha256");
  for (const dir of packageDirs(repo)) {
    for (const file of ["package.json", "CHANGELOG.md"]) {
      const path = join(repo, dir, file);
      hash.update(`${path}\n${existsSync(path) ? readFileSync(path) : "-"}\n`);
    }
  }
  hash.update(readdirSync(join(repo, ".changeset")).sort().join("\n"));
  return hash.digest("hex");
}

function bump(version: string, type: "patch" | "minor"): string {
  const [major = 0, minor = 0, patch = 0] = version.split(".").map(Number);
  return type === "minor" ? `${major}.${minor + 1}.0` : `${major}.${minor}.${patch + 1}`;
}

/** Does `version` satisfy `^base` (semver caret: 0.0.z pins z, 0.y.z pins y, x.y.z pins x)? */
function caretSatisfies(base: string, version: string): boolean {
  const [b0, b1, b2] = base.split(".").map(Number);
  const [v0, v1, v2] = version.split(".").map(Number);
  if (b0 !== v0) return false;
  if (b0 !== 0) return (v1 ?? 0) > (b1 ?? 0) || ((v1 ?? 0) === (b1 ?? 0) && (v2 ?? 0) >= (b2 ?? 0));
  if (b1 !== 0) return v1 === b1 && (v2 ?? 0) >= (b2 ?? 0);
  return v1 === 0 && v2 === b2;
}

/**
 * What changesets should do: the changed package gets its bump; a public package depending on a bumped one (through
 * dependencies, optionalDependencies or peerDependencies, all `workspace:^` here) gets a patch when the new version
 * leaves its `^current` range, or always with `updateInternalDependents: "always"`. Repeats until nothing changes,
 * so dependents of dependents count. devDependencies never cause a bump; private packages are not versioned.
 */
function expectedVersions(
  manifests: Map<string, Manifest>,
  changed: string,
  type: "patch" | "minor",
  always: boolean,
): Map<string, string> {
  const next = new Map([...manifests].map(([name, manifest]) => [name, manifest.version]));
  next.set(changed, bump(manifests.get(changed)?.version ?? "0.0.0", type));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [name, manifest] of manifests) {
      if (manifest.private === true || next.get(name) !== manifest.version) continue;
      const deps = {
        ...manifest.dependencies,
        ...manifest.optionalDependencies,
        ...manifest.peerDependencies,
      };
      const trigger = Object.keys(deps).some((dep) => {
        const before = manifests.get(dep)?.version;
        const after = next.get(dep);
        return (
          before !== undefined && after !== before && (always || !caretSatisfies(before, after ?? before))
        );
      });
      if (trigger) {
        next.set(name, bump(manifest.version, "patch"));
        grew = true;
      }
    }
  }
  return next;
}

/** Public packages that depend on `name`, directly or through each other (dependencies, optional, peer). */
function dependentsOf(manifests: Map<string, Manifest>, name: string): Set<string> {
  const found = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const [candidate, manifest] of manifests) {
      if (manifest.private === true || found.has(candidate)) continue;
      const deps = Object.keys({
        ...manifest.dependencies,
        ...manifest.optionalDependencies,
        ...manifest.peerDependencies,
      });
      if (deps.some((dep) => dep === name || found.has(dep))) {
        found.add(candidate);
        grew = true;
      }
    }
  }
  return found;
}

const versions = (manifests: Map<string, Manifest>) =>
  new Map([...manifests].map(([name, manifest]) => [name, manifest.version]));

function changedNames(before: Map<string, Manifest>, after: Map<string, Manifest>): string[] {
  return [...after]
    .filter(([name, manifest]) => before.get(name)?.version !== manifest.version)
    .map(([n]) => n)
    .sort();
}

/** A scratch workspace: root manifest, workspace file, changesets config and every package manifest (+ CHANGELOGs). */
async function scratchWorkspace(options: { keepPendingChangesets: boolean }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "skittle-changeset-bump-"));
  await copyFile(join(repo, "package.json"), join(dir, "package.json"));
  await copyFile(join(repo, "pnpm-workspace.yaml"), join(dir, "pnpm-workspace.yaml"));
  await mkdir(join(dir, ".changeset"));
  for (const file of readdirSync(join(repo, ".changeset"))) {
    if (file === "config.json" || (options.keepPendingChangesets && file.endsWith(".md"))) {
      await copyFile(join(repo, ".changeset", file), join(dir, ".changeset", file));
    }
  }
  for (const pkg of packageDirs(repo)) {
    await mkdir(join(dir, pkg), { recursive: true });
    for (const file of ["package.json", "CHANGELOG.md"]) {
      if (existsSync(join(repo, pkg, file))) await copyFile(join(repo, pkg, file), join(dir, pkg, file));
    }
  }
  // The changelog generator named in config.json resolves from here; changesets only reads node_modules.
  await symlink(join(repo, "node_modules"), join(dir, "node_modules"), "dir");
  // changesets looks at git (baseBranch "main"); a fresh repository is enough.
  await run("git", ["init", "-q", "-b", "main"], { cwd: dir });
  return dir;
}

async function changesetVersion(dir: string): Promise<void> {
  await run(changesetBin, ["version"], { cwd: dir, env: { ...process.env, FORCE_COLOR: "0", CI: "true" } });
}

async function addChangeset(dir: string, name: string, type: "patch" | "minor", summary: string) {
  await writeFile(join(dir, ".changeset", "sample-bump.md"), `---\n"${name}": ${type}\n---\n\n${summary}\n`);
}

const config = JSON.parse(readFileSync(join(repo, ".changeset", "config.json"), "utf8")) as {
  ___experimentalUnsafeOptions_WILL_CHANGE_IN_PATCH?: { updateInternalDependents?: string };
};
const always =
  config.___experimentalUnsafeOptions_WILL_CHANGE_IN_PATCH?.updateInternalDependents === "always";

describe("changeset version (in a temporary copy of the workspace manifests)", () => {
  const scratch: string[] = [];
  let fingerprint: string;
  const dirOf = new Map(
    packageDirs(repo).map((dir) => [
      (JSON.parse(readFileSync(join(repo, dir, "package.json"), "utf8")) as Manifest).name,
      dir,
    ]),
  );

  beforeAll(() => {
    fingerprint = repoFingerprint();
  });

  afterAll(async () => {
    for (const dir of scratch) {
      await unlink(join(dir, "node_modules")).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
    expect(repoFingerprint(), "the real repository was not touched").toBe(fingerprint);
  });

  it("a patch changeset on csr bumps csr and its dependents, nothing else (pending changesets removed)", async () => {
    const dir = await scratchWorkspace({ keepPendingChangesets: false });
    scratch.push(dir);
    const before = readManifests(dir);
    await addChangeset(dir, "@skittlesorter/csr", "patch", "Sample patch for the bump test.");

    await changesetVersion(dir);

    const after = readManifests(dir);
    const expected = expectedVersions(before, "@skittlesorter/csr", "patch", always);
    expect(versions(after)).toEqual(expected);
    const bumped = changedNames(before, after);
    const dependents = dependentsOf(before, "@skittlesorter/csr");
    expect(dependents).toEqual(
      new Set([
        "@skittlesorter/dps-mqtt",
        "@skittlesorter/hub-mqtt",
        // hub-client depends on hub-mqtt (hubMqttConnector), and fleet and sorter on hub-client.
        "@skittlesorter/hub-client",
        "@skittlesorter/fleet",
        "@skittlesorter/cli",
        "@skittlesorter/simulator",
        "@skittlesorter/sorter",
      ]),
    );
    // Today every package is 0.0.x, where ^0.0.0 admits nothing newer: every dependent moves (as with "always").
    if (always || before.get("@skittlesorter/csr")?.version.startsWith("0.0.")) {
      expect(bumped).toEqual(["@skittlesorter/csr", ...dependents].sort());
    }
    for (const name of bumped) expect(name === "@skittlesorter/csr" || dependents.has(name)).toBe(true);
    // Internal ranges stay workspace: ranges (pnpm pack rewrites them at publish time).
    expect(after.get("@skittlesorter/dps-mqtt")?.dependencies?.["@skittlesorter/csr"]).toBe("workspace:^");
    // CHANGELOGs: the summary for csr, "Updated dependencies" for each bumped dependent, none elsewhere.
    const newCsr = after.get("@skittlesorter/csr")?.version;
    const csrLog = await readFile(join(dir, "packages/csr/CHANGELOG.md"), "utf8");
    expect(csrLog).toContain(`## ${newCsr}`);
    expect(csrLog).toContain("Sample patch for the bump test.");
    for (const [name, folder] of dirOf) {
      const logFile = join(dir, folder, "CHANGELOG.md");
      if (name === "@skittlesorter/csr") continue;
      if (bumped.includes(name)) {
        // Each dependent names the new versions of the bumped packages it depends on directly (csr itself, or
        // for a dependent of a dependent, e.g. hub-client through hub-mqtt, that dependent).
        const log = await readFile(logFile, "utf8");
        const manifest = before.get(name);
        const bumpedDirect = Object.keys({
          ...manifest?.dependencies,
          ...manifest?.optionalDependencies,
          ...manifest?.peerDependencies,
        }).filter((dep) => bumped.includes(dep));
        expect(bumpedDirect, `${name} depends on a bumped package`).not.toEqual([]);
        for (const dep of bumpedDirect) expect(log).toContain(`${dep}@${after.get(dep)?.version}`);
      } else {
        expect(existsSync(logFile), `${name}: CHANGELOG untouched`).toBe(
          existsSync(join(repo, folder, "CHANGELOG.md")),
        );
      }
    }
    expect(readdirSync(join(dir, ".changeset")).filter((file) => file.endsWith(".md"))).toEqual([]);
  });

  it("after the pending release is applied, a minor changeset on csr bumps it and exactly its dependents", async () => {
    const dir = await scratchWorkspace({ keepPendingChangesets: true });
    scratch.push(dir);
    await changesetVersion(dir); // the pending release, as `pnpm version-packages` applies it
    const released = readManifests(dir);
    await addChangeset(dir, "@skittlesorter/csr", "minor", "Sample feature for the bump test.");

    await changesetVersion(dir);

    const after = readManifests(dir);
    // A minor bump of a 0.x package leaves every ^0.y range behind, so each dependent gets a patch.
    const dependents = dependentsOf(released, "@skittlesorter/csr");
    expect(changedNames(released, after)).toEqual(["@skittlesorter/csr", ...dependents].sort());
    const csrBefore = released.get("@skittlesorter/csr")?.version ?? "";
    expect(after.get("@skittlesorter/csr")?.version).toBe(bump(csrBefore, "minor"));
    for (const name of dependents) {
      expect(after.get(name)?.version, name).toBe(bump(released.get(name)?.version ?? "", "patch"));
    }
    expect(versions(after)).toEqual(expectedVersions(released, "@skittlesorter/csr", "minor", always));
  });
});
