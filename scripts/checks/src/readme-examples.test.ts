// Every code example in every package and app README runs as written, so the READMEs cannot drift from the code.
// TypeScript examples are type-checked (strict, like the packages); then each README's examples run in order, in a
// fresh directory beside a running simulator (`sim/sim.json`, as after `skittle-sim start --data-dir ./sim`), with
// the environment variables the README tells its reader to set, filled from the simulator's config. Examples marked
// `<!-- example: needs hardware (…): type-checked, not run -->` need real I2C/PWM hardware, and those marked
// `<!-- example: needs … (not yet in skittle-sim): type-checked, not run -->` something the simulator does not serve
// yet: both are type-checked only. Shell blocks run only when marked `<!-- example: run -->` (the rest are install commands and synopses).
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { type Simulator, startSimulator } from "@skittlesorter/simulator";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Example, envNames, extractExamples, readmes } from "./readme-examples.ts";
import { repoRoot } from "./repo.ts";

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const tsxLoader = pathToFileURL(require.resolve("tsx")).href;
const tsc = require.resolve("typescript/bin/tsc");
/** Inside this package's node_modules, so the examples' imports resolve to the workspace packages (.mts/.mjs: ES modules). */
const examplesDir = join(repoRoot, "scripts", "checks", "node_modules", ".readme-examples");

const examples: Example[] = [];
for (const readme of readmes()) {
  examples.push(...extractExamples(await readFile(join(repoRoot, readme), "utf8"), readme));
}
const runnable = examples.filter((example) => example.mode === "run");
const readmesToRun = [...new Set(runnable.map((example) => example.readme))];

const slug = (example: Example): string =>
  `${example.readme.replace(/\/README\.md$/, "").replace(/\W+/g, "-")}-L${example.line}`;
const fileOf = (example: Example): string =>
  join(examplesDir, `${slug(example)}.${example.lang === "ts" ? "mts" : "mjs"}`);

/** Runs a command; resolves with its exit code and output whether or not it failed. */
async function outcome(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  try {
    const { stdout, stderr } = await run(file, args, { ...options, timeout: 90_000 });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code?: unknown; signal?: unknown; stdout?: string; stderr?: string };
    return { code: failed.code ?? failed.signal, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

describe("extractExamples", () => {
  const block = (directive: string, lang = "ts"): string =>
    `Text.\n\n<!-- example: ${directive} -->\n\n\`\`\`${lang}\nconsole.log(1);\n\`\`\`\n`;
  const modeOf = (markdown: string) =>
    extractExamples(markdown, "x/README.md").map((example) => example.mode);

  it("runs unmarked TypeScript, keeps unmarked shell as reference, runs shell marked run", () => {
    expect(modeOf("```ts\nconsole.log(1);\n```\n\n```sh\nls\n```\n")).toEqual(["run", "reference"]);
    expect(modeOf(block("run", "sh"))).toEqual(["run"]);
  });

  it("only type-checks TypeScript that needs hardware or something skittle-sim does not serve yet", () => {
    expect(modeOf(block("needs hardware (a PCA9685 on I2C bus 1): type-checked, not run"))).toEqual([
      "type-check",
    ]);
    expect(
      modeOf(
        block("needs certificate renewal through the hub (not yet in skittle-sim): type-checked, not run"),
      ),
    ).toEqual(["type-check"]);
  });

  it.each([
    "needs Azure: type-checked, not run",
    "needs hardware: type-checked, not run",
    "needs (not yet in skittle-sim): type-checked, not run",
    "skip",
  ])("refuses the directive %j, naming the forms it takes", (directive) => {
    expect(() => modeOf(block(directive))).toThrow(
      /x\/README\.md:5: unknown example directive .*"needs hardware \(what\): type-checked, not run" or "needs what \(not yet in skittle-sim\): type-checked, not run"/,
    );
  });

  it("refuses a type-check-only directive on a shell block", () => {
    expect(() => modeOf(block("needs hardware (a Pi): type-checked, not run", "sh"))).toThrow(
      /unknown example directive/,
    );
  });
});

it("finds the examples, and marks every type-check-only one with what it needs", () => {
  expect(readmesToRun).toEqual(
    expect.arrayContaining([
      "packages/dps-mqtt/README.md",
      "packages/hub-mqtt/README.md",
      "packages/csr/README.md",
      "packages/simulator/README.md",
    ]),
  );
  expect(
    examples
      .filter((example) => example.mode === "type-check")
      .map(slug)
      .sort(),
  ).toEqual([
    expect.stringMatching(/^packages-i2c-L/),
    expect.stringMatching(/^packages-servo-L/),
    expect.stringMatching(/^packages-tcs34725-L/),
  ]);
});

it("the README says what to set for every environment variable an example reads", async () => {
  for (const example of examples.filter((e) => e.lang !== "sh")) {
    const text = (await readFile(join(repoRoot, example.readme), "utf8")).replace(example.code, "");
    for (const name of envNames(example.code)) {
      expect(text, `${example.readme}:${example.line} reads ${name}`).toContain(name);
    }
  }
});

it("every TypeScript example type-checks", { timeout: 180_000 }, async () => {
  await rm(examplesDir, { recursive: true, force: true });
  await mkdir(examplesDir, { recursive: true });
  const typescript = examples.filter((example) => example.lang === "ts" && example.mode !== "reference");
  for (const example of typescript) await writeFile(fileOf(example), example.code);
  await writeFile(
    join(examplesDir, "tsconfig.json"),
    JSON.stringify({
      extends: join(repoRoot, "tsconfig.test.json"),
      compilerOptions: { noEmit: true, allowImportingTsExtensions: true },
      include: [],
      files: typescript.map(fileOf),
    }),
  );
  const result = await outcome(process.execPath, [tsc, "-p", join(examplesDir, "tsconfig.json")], {
    cwd: examplesDir,
  });
  expect(result.output.replaceAll(`${examplesDir}/`, "")).toBe("");
  expect(result.code).toBe(0);
});

describe("README examples run as written against the simulator", () => {
  let root: TempDir;
  let sim: Simulator;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    root = await tempDir("skittle-readme-");
    sim = await startSimulator({
      dataDir: join(root.path, "sim"),
      dpsPort: 0,
      dpsWsPort: 0,
      hubPort: 0,
      hubWsPort: 0,
      httpPort: 0,
    });
    // `skittle` and `skittle-sim` from source, as `pnpm skittle` runs them: no build needed.
    const bin = join(root.path, "bin");
    await mkdir(bin);
    for (const [name, main] of [
      ["skittle", "apps/cli/src/main.ts"],
      ["skittle-sim", "packages/simulator/src/cli-main.ts"],
    ] as const) {
      await writeFile(
        join(bin, name),
        `#!/bin/sh\nexec "${process.execPath}" --conditions=@skittlesorter/source --import "${tsxLoader}" "${join(repoRoot, main)}" "$@"\n`,
        { mode: 0o755 },
      );
    }
    const { config } = sim;
    const [hub] = config.hubs;
    if (hub === undefined) throw new Error("the simulator started without its own hub (sim.json hubs[0])");
    const groupKey = config.enrollmentGroups.find((group) => group.primaryKey !== undefined)?.primaryKey;
    env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ""}`,
      DPS_HOST: config.dps.host,
      DPS_PORT: String(config.dps.port),
      DPS_ID_SCOPE: config.idScope,
      DPS_GROUP_KEY: groupKey,
      NODE_EXTRA_CA_CERTS: config.trustedCaFile,
      HUB_HOST_NAME: hub.hostname,
      HUB_CONNECT_HOST: hub.host,
      HUB_PORT: String(hub.port),
      ADR_SUBSCRIPTION_ID: config.adr.subscriptionId,
      ADR_RESOURCE_GROUP: config.adr.resourceGroup,
      ADR_NAMESPACE: config.adr.namespace,
      ADR_BASE_URL: config.adr.baseUrl,
      ADR_TOKEN: config.adr.token,
    };
    await mkdir(examplesDir, { recursive: true });
  });

  afterAll(async () => {
    await sim?.close();
    await root?.[Symbol.asyncDispose]();
  });

  it.each(readmesToRun)("%s", async (readme) => {
    const cwd = join(root.path, "work", readme.replace(/\W+/g, "-"));
    await mkdir(cwd, { recursive: true });
    await symlink(join(root.path, "sim"), join(cwd, "sim"));
    for (const example of runnable.filter((e) => e.readme === readme)) {
      let result: { code: unknown; output: string };
      if (example.lang === "sh") {
        result = await outcome("bash", ["-euo", "pipefail", "-c", example.code], { cwd, env });
      } else {
        await writeFile(fileOf(example), example.code);
        result = await outcome(
          process.execPath,
          ["--conditions=@skittlesorter/source", "--import", tsxLoader, fileOf(example)],
          { cwd, env },
        );
      }
      expect(result, `${readme}:${example.line} failed:\n${result.output}`).toMatchObject({ code: 0 });
    }
  });
});
