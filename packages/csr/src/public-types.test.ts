// The published declarations must type-check in a strict consumer: `module`/`moduleResolution` node16 and
// `skipLibCheck: false`. Any @peculiar/x509 type reachable from dist/index.d.ts pulls in @peculiar's own
// declarations, which fail there (TS1479), so the public surface may name only this package's, Node's and standard
// types.
import { execFile } from "node:child_process";
import { mkdir, realpath, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { tempDir } from "@skittlesorter/test-utils";
import { expect, it } from "vitest";

const run = promisify(execFile);
const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(packageDir, "package.json"));
const tsc = require.resolve("typescript/bin/tsc");

/** Runs tsc; resolves with its exit code and output instead of throwing on errors. */
async function typeCheck(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [tsc, ...args], { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

it("type-checks in a node16 consumer with skipLibCheck off", { timeout: 180_000 }, async () => {
  // Up to date (a no-op) inside `pnpm test`, which builds first; builds dist/ when run on its own.
  const build = await typeCheck(["-b", packageDir], packageDir);
  expect(build).toEqual({ code: 0, output: "" });

  await using consumer = await tempDir("csr-consumer-");
  const modules = join(consumer.path, "node_modules");
  await mkdir(join(modules, "@skittlesorter"), { recursive: true });
  await mkdir(join(modules, "@types"), { recursive: true });
  await symlink(packageDir, join(modules, "@skittlesorter", "csr"), "dir");
  const nodeTypes = await realpath(dirname(require.resolve("@types/node/package.json")));
  await symlink(nodeTypes, join(modules, "@types", "node"), "dir");
  await writeFile(join(consumer.path, "package.json"), JSON.stringify({ type: "module", private: true }));
  await writeFile(
    join(consumer.path, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "node16",
        moduleResolution: "node16",
        target: "ES2022",
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ["node"],
      },
      files: ["index.ts"],
    }),
  );
  await writeFile(
    join(consumer.path, "index.ts"),
    [
      'import * as csr from "@skittlesorter/csr";',
      "export type Api = typeof csr;",
      "const keyPair: csr.KeyPair = await csr.generateKeyPair();",
      'const request: csr.Csr = await csr.createCsr("device-1", keyPair);',
      "const info: csr.CsrInfo = await csr.parseCsr(request.pem);",
      "export const commonName: string | undefined = info.commonName;",
      "",
    ].join("\n"),
  );
  const check = await typeCheck(["-p", consumer.path], consumer.path);
  expect(check).toEqual({ code: 0, output: "" });
});
