// `skittle-sorter run --emulated` needs no configuration file: it runs the offline rig shipped in config/.
import { describe, expect, it } from "vitest";
import { EXIT_CONFIG, EXIT_OK, main } from "./cli.ts";

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: {},
  });
  return { code, stdout, stderr };
}

describe("skittle-sorter run --emulated without --config", () => {
  it("sorts the requested number of skittles on the bundled offline rig", async () => {
    const result = await run(["run", "--emulated", "--skittles", "20"]);
    expect(result.stderr).toContain("appsettings.emulated.json");
    expect(result.code).toBe(EXIT_OK);
    expect(result.stdout).toMatch(/sorted: +20 /);
    expect(result.stdout).toContain("telemetry:    off");
  });

  it("still requires --config for the real rig, and says how to run without one", async () => {
    const result = await run(["run", "--skittles", "20"]);
    expect(result.code).toBe(EXIT_CONFIG);
    expect(result.stderr).toMatch(/--config.*--emulated/);
  });
});
