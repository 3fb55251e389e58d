import { execFile } from "node:child_process";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./repo.ts";

const run = promisify(execFile);

/** Runs a command; resolves with its exit code and output whether or not it failed. */
async function outcome(file: string, args: string[]) {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === "number" ? failed.code : -1,
      stdout: failed.stdout ?? "",
      stderr: failed.stderr ?? "",
    };
  }
}

const BINS = [
  { app: "apps/cli", bin: "skittle", entry: "index.js" },
  { app: "packages/simulator", bin: "skittle-sim", entry: "cli.js" },
  { app: "apps/sorter", bin: "skittle-sorter", entry: "cli.js" },
] as const;

// Right after `pnpm install` there is no dist/: each bin says in one line what to run, instead of an
// ERR_MODULE_NOT_FOUND stack trace. Each bin runs from a copy of its app folder, so dist/ can be absent.
describe.each(BINS)("bin $bin", ({ app, bin, entry }) => {
  it("says to run `pnpm build` when dist/ is missing, and runs main() once it exists", async () => {
    await using dir = await tempDir();
    await mkdir(join(dir.path, "bin"));
    await copyFile(join(repoRoot, app, "bin", `${bin}.js`), join(dir.path, "bin", `${bin}.js`));
    await writeFile(join(dir.path, "package.json"), JSON.stringify({ type: "module" }));

    const before = await outcome(process.execPath, [join(dir.path, "bin", `${bin}.js`), "--help"]);
    expect(before.code).toBe(1);
    expect(before.stdout).toBe("");
    expect(before.stderr).toBe(
      `${bin}: not built yet (dist/ is missing): run \`pnpm build\` (npx -y pnpm@12.4.2 build) at the repository root first.\n`,
    );

    await mkdir(join(dir.path, "dist"));
    await writeFile(
      join(dir.path, "dist", entry),
      "export async function main(argv) { process.stdout.write(JSON.stringify(argv)); return 3; }\n",
    );
    const after = await outcome(process.execPath, [join(dir.path, "bin", `${bin}.js`), "--help", "x"]);
    expect(after).toEqual({ code: 3, stdout: '["--help","x"]', stderr: "" });
  });

  it("is linked at the repository root (pnpm exec works there) and never shows a stack trace", async () => {
    const result = await outcome(join(repoRoot, "node_modules", ".bin", bin), ["--help"]);
    // Built: the usage text. Not built (vitest run without `pnpm build`): the one line above.
    if (result.code === 0) expect(`${result.stdout}${result.stderr}`).toMatch(/usage/i);
    else expect(result.stderr).toMatch(/^[\w-]+: not built yet .*\n$/);
    expect(result.stderr).not.toContain("ERR_MODULE_NOT_FOUND");
  });
});
