// `pnpm release:dry`: everything a release does except `changeset publish`, checked the way a consumer meets it.
//   1. build every publishable package (tsc -b)
//   2. pack each one with pnpm (workspace:^ ranges become real versions)
//   3. check each tarball with publint --strict and attw (esm-only profile)
//   4. install ALL tarballs at once into a scratch project outside the workspace with plain npm
//      (no workspace links; overrides pin every @skittlesorter/* name to its tarball, so nothing comes from the registry)
//   5. run scripts/release-smoke/smoke.mjs there: imports by package name, the bins, simulator + provisioning
//   6. `npm install -g @skittlesorter/sorter` into a fresh --prefix, as on a Raspberry Pi (our scope from a loopback
//      registry of the tarballs), then `skittle-sorter --version` and `run --emulated --skittles 20`; prints the
//      packed and installed size
// Options: --keep (keep the scratch directory), --skip-build (use the existing dist/).
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalRegistry } from "./release-smoke/local-registry.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const keep = args.has("--keep");
const skipBuild = args.has("--skip-build");
const bin = (name) => join(root, "node_modules", ".bin", name);

/** The environment a plain npm user has: none of pnpm's or npm's run-script variables (npm_config_local_prefix would point npm at the workspace). */
function plainEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|pnpm_|PNPM_)/i.test(key)) env[key] = value;
  }
  return { ...env, FORCE_COLOR: "0", NO_COLOR: "1", ...extra };
}

/** Runs a command; resolves with its output, rejects with the output when it exits non-zero. */
function run(command, commandArgs, { cwd = root, env = process.env, echo = false } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, commandArgs, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (stream, target) =>
      stream.on("data", (chunk) => {
        output += chunk;
        if (echo) target.write(chunk);
      });
    collect(child.stdout, process.stdout);
    collect(child.stderr, process.stderr);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolvePromise(output);
      else {
        const error = new Error(
          `${command} ${commandArgs.join(" ")} (in ${relative(root, cwd) || "."}) exited with ${code ?? signal}`,
        );
        if (!echo) error.output = output;
        reject(error);
      }
    });
  });
}

const results = [];
async function step(title, action) {
  const started = Date.now();
  process.stdout.write(`\n▶ ${title}\n`);
  try {
    const detail = await action();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    results.push({ title, ok: true, seconds });
    process.stdout.write(`PASS ${title} (${seconds} s)${detail ? `: ${detail}` : ""}\n`);
  } catch (error) {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    results.push({ title, ok: false, seconds });
    if (error.output) process.stdout.write(`${error.output.trimEnd()}\n`);
    process.stdout.write(`FAIL ${title} (${seconds} s): ${error.message}\n`);
    throw error;
  }
}

/** Runs `worker` over `items`, at most `limit` at a time (2 cores). Collects every failure before rejecting. */
async function pool(items, limit, worker) {
  const failures = [];
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await worker(item);
      } catch (error) {
        failures.push(error);
      }
    }
  });
  await Promise.all(lanes);
  if (failures.length > 0) {
    const error = new Error(failures.map((failure) => failure.message).join("\n"));
    error.output = failures.map((failure) => failure.output ?? "").join("\n");
    throw error;
  }
}

/** pnpm as pinned in the root package.json: the one on PATH when it is that version, else through npx. */
async function pnpmCommand() {
  const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const version = String(rootPkg.packageManager ?? "pnpm@12.4.2").replace(/^pnpm@/, "");
  try {
    if ((await run("pnpm", ["--version"])).trim() === version) return ["pnpm", []];
  } catch {
    // not on PATH
  }
  return ["npx", ["-y", `pnpm@${version}`]];
}

function publishablePackages() {
  const found = [];
  for (const group of ["packages", "apps"]) {
    for (const name of readdirSync(join(root, group)).sort()) {
      const manifestFile = join(root, group, name, "package.json");
      if (!existsSync(manifestFile)) continue;
      const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
      if (manifest.private === true) continue;
      found.push({ dir: join(root, group, name), rel: `${group}/${name}`, manifest });
    }
  }
  return found;
}

/** How many packages an npm tree holds (every node_modules/<name> and node_modules/@scope/<name>, nested too). */
function countPackages(nodeModules) {
  if (!existsSync(nodeModules)) return 0;
  let count = 0;
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith(".")) continue;
    const dirs = entry.startsWith("@")
      ? readdirSync(join(nodeModules, entry)).map((name) => join(nodeModules, entry, name))
      : [join(nodeModules, entry)];
    for (const dir of dirs) {
      if (!existsSync(join(dir, "package.json"))) continue;
      count += 1 + countPackages(join(dir, "node_modules"));
    }
  }
  return count;
}

const packages = publishablePackages();
const scratch = await mkdtemp(join(tmpdir(), "skittle-release-dry-"));
const scratchReal = await realpath(scratch);
if (`${scratchReal}${sep}`.startsWith(`${root}${sep}`)) {
  throw new Error(
    `The scratch directory ${scratchReal} is inside the workspace; set TMPDIR to a directory outside it.`,
  );
}
const tarballDir = join(scratch, "tarballs");
const project = join(scratch, "consumer");
const tarballs = new Map(); // package name → absolute tarball path

process.stdout.write(
  `release:dry: ${packages.length} publishable packages: ${packages.map((pkg) => pkg.manifest.name).join(", ")}\n` +
    `scratch directory: ${scratch}\n`,
);

let failed = false;
try {
  await step("build (tsc -b over the publishable packages)", async () => {
    if (skipBuild) return "skipped (--skip-build)";
    await run(bin("tsc"), ["-b", ...packages.map((pkg) => pkg.dir)]);
    const missing = packages.filter((pkg) => !existsSync(join(pkg.dir, "dist", "index.js")));
    if (missing.length > 0)
      throw new Error(`no dist/index.js in ${missing.map((pkg) => pkg.rel).join(", ")}`);
    return `${packages.length} projects`;
  });

  await step("pack (pnpm pack)", async () => {
    const [pnpm, pnpmArgs] = await pnpmCommand();
    await mkdir(tarballDir, { recursive: true });
    for (const pkg of packages) {
      const before = new Set(readdirSync(tarballDir));
      await run(pnpm, [...pnpmArgs, "pack", "--pack-destination", tarballDir], { cwd: pkg.dir });
      const created = readdirSync(tarballDir).filter((file) => file.endsWith(".tgz") && !before.has(file));
      if (created.length !== 1)
        throw new Error(`${pkg.rel}: expected one new tarball, found ${created.length}`);
      tarballs.set(pkg.manifest.name, join(tarballDir, created[0]));
    }
    // No tarball may still say workspace: (pnpm rewrites it; npm could not install it).
    for (const [name, tarball] of tarballs) {
      const manifest = await run("tar", ["-xzOf", tarball, "package/package.json"]);
      if (manifest.includes("workspace:"))
        throw new Error(`${name}: packed package.json still has a workspace: range`);
    }
    return [...tarballs.values()].map((file) => relative(tarballDir, file)).join(", ");
  });

  await step("publint --strict and attw --profile esm-only on each tarball", async () => {
    await pool([...tarballs.entries()], 2, async ([name, tarball]) => {
      try {
        await run(bin("publint"), ["run", tarball, "--strict"]);
        await run(bin("attw"), [tarball, "--profile", "esm-only", "--format", "table-flipped"]);
      } catch (error) {
        error.message = `${name}: ${error.message}`;
        throw error;
      }
    });
    return `${tarballs.size} tarballs clean`;
  });

  await step(
    "npm install of every tarball into a scratch project (no workspace, no registry for our packages)",
    async () => {
      await mkdir(project, { recursive: true });
      const fileSpecs = Object.fromEntries(
        [...tarballs].map(([name, tarball]) => [name, `file:${relative(project, tarball)}`]),
      );
      await writeFile(
        join(project, "package.json"),
        `${JSON.stringify(
          {
            name: "skittlesorter-release-smoke",
            private: true,
            type: "module",
            dependencies: fileSpecs,
            // Every inter-package range (e.g. @skittlesorter/core@^0.1.0) resolves to the packed tarball.
            overrides: fileSpecs,
          },
          null,
          2,
        )}\n`,
      );
      const log = await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=http"], {
        cwd: project,
        env: plainEnv(),
      });
      const registryHits = log.split("\n").filter((line) => /fetch .*@skittlesorter/i.test(line));
      if (registryHits.length > 0)
        throw new Error(`npm asked the registry for our packages:\n${registryHits.join("\n")}`);
      // Prove where each of our packages came from: the lockfile must name our tarballs, nothing else.
      const lock = JSON.parse(await readFile(join(project, "package-lock.json"), "utf8"));
      const ours = Object.entries(lock.packages).filter(([path]) =>
        /node_modules\/@skittlesorter\//.test(path),
      );
      const problems = ours
        .filter(([, entry]) => !String(entry.resolved ?? "").startsWith("file:") || entry.link === true)
        .map(
          ([path, entry]) => `${path} resolved to ${entry.resolved ?? (entry.link ? "a link" : "nothing")}`,
        );
      const nested = ours.filter(([path]) => path.split("node_modules/").length > 2).map(([path]) => path);
      if (problems.length > 0) throw new Error(`not from the tarballs: ${problems.join("; ")}`);
      if (nested.length > 0)
        throw new Error(`duplicated (a range did not match the tarball): ${nested.join(", ")}`);
      if (ours.length !== tarballs.size)
        throw new Error(`expected ${tarballs.size} packages, lockfile has ${ours.length}`);
      return `${ours.length} @skittlesorter packages from file: tarballs`;
    },
  );

  await step("consumer smoke test (scripts/release-smoke/smoke.mjs in the scratch project)", async () => {
    await copyFile(join(root, "scripts", "release-smoke", "smoke.mjs"), join(project, "smoke.mjs"));
    await run(process.execPath, ["smoke.mjs"], { cwd: project, env: plainEnv(), echo: true });
  });

  await step(
    "npm install -g @skittlesorter/sorter into a fresh prefix, then run skittle-sorter",
    async () => {
      const sorter = tarballs.get("@skittlesorter/sorter");
      if (sorter === undefined) throw new Error("no @skittlesorter/sorter tarball (is apps/sorter private?)");
      const prefix = join(scratch, "global");
      const registry = await startLocalRegistry(tarballs);
      try {
        await run(
          "npm",
          [
            "install",
            "-g",
            "--prefix",
            prefix,
            `--@skittlesorter:registry=${registry.url}`,
            "--no-audit",
            "--no-fund",
            "--omit=dev",
            "@skittlesorter/sorter",
          ],
          { cwd: scratch, env: plainEnv() },
        );
      } finally {
        await registry.close();
      }
      const bin = join(prefix, "bin", "skittle-sorter");
      const { version } = JSON.parse(await run("tar", ["-xzOf", sorter, "package/package.json"]));
      const printed = (await run(bin, ["--version"], { cwd: scratch, env: plainEnv() })).trim();
      if (printed !== version)
        throw new Error(`skittle-sorter --version printed "${printed}", expected ${version}`);
      const summary = await run(bin, ["run", "--emulated", "--skittles", "20"], {
        cwd: scratch,
        env: plainEnv(),
      });
      if (!/sorted: +20 /.test(summary))
        throw new Error(`run --emulated --skittles 20 did not sort 20:\n${summary}`);
      const installed = join(prefix, "lib", "node_modules", "@skittlesorter", "sorter");
      const lockless = readdirSync(join(installed, "node_modules")).filter((name) => !name.startsWith("."));
      const devOnly = [
        "aedes",
        "@skittlesorter/simulator",
        "@skittlesorter/test-utils",
        "vitest",
        "typescript",
      ];
      const leaked = devOnly.filter((name) => existsSync(join(installed, "node_modules", name)));
      if (leaked.length > 0) throw new Error(`development packages were installed: ${leaked.join(", ")}`);
      const kib = (text) => Number.parseInt(text, 10);
      const installedKiB = kib(await run("du", ["-sk", prefix]));
      const packedKiB = Math.ceil((await readFile(sorter)).length / 1024);
      const packageCount = countPackages(join(prefix, "lib", "node_modules"));
      return `${lockless.length} top-level dependencies; sorter tarball ${packedKiB} KiB packed; install ${(installedKiB / 1024).toFixed(1)} MiB on disk (${packageCount} packages)`;
    },
  );
} catch {
  failed = true;
} finally {
  if (keep) process.stdout.write(`\nkept the scratch directory: ${scratch}\n`);
  else await rm(scratch, { recursive: true, force: true });
}

process.stdout.write("\nrelease:dry summary\n");
for (const result of results) {
  process.stdout.write(`  ${result.ok ? "PASS" : "FAIL"}  ${result.title} (${result.seconds} s)\n`);
}
process.stdout.write(failed ? "release:dry FAILED\n" : "release:dry passed\n");
process.exitCode = failed ? 1 : 0;
