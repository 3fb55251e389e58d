// `skittle-sorter run --emulated` needs no configuration file: it runs the offline rig shipped in config/.

import { noopLogger } from "@skittlesorter/core";
import { describe, expect, it } from "vitest";
import { type CliIo, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main } from "./cli.ts";

async function run(
  argv: string[],
  deps: CliIo["deps"] = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
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
    deps,
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

  it("reports a runtime failure as one coded line without secrets, and exits 1", async () => {
    const failingLogger = {
      ...noopLogger,
      info: () => {
        throw Object.assign(new Error("refused SharedAccessSignature sr=hub&sig=c2VjcmV0"), {
          code: "HUB_UNAUTHORIZED",
        });
      },
    };
    const result = await run(["run", "--emulated", "--skittles", "1"], { logger: failingLogger });
    expect(result.code).toBe(EXIT_FAILURE);
    expect(result.stderr).toBe("error [HUB_UNAUTHORIZED]: refused SharedAccessSignature [redacted]\n");
  });
});
