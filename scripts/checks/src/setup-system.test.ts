// scripts/setup-system.sh (the first step of `pnpm test`) on Debian/Ubuntu, with apt-get and sudo replaced by stubs
// that record their calls, and a PATH holding only the tools the script needs: it installs the deploy tests'
// systemd-analyze (package systemd) and shellcheck when they are missing, and does nothing when they are there.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { repoRoot } from "./repo.ts";

const SCRIPT = join(repoRoot, "scripts", "setup-system.sh");
const debianLike =
  existsSync("/etc/os-release") &&
  /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/im.test(readFileSync("/etc/os-release", "utf8"));

/** The real tools setup-system.sh runs, found on this machine's PATH. */
const REAL_TOOLS = ["bash", "cat", "dirname", "grep", "id", "mktemp", "node", "openssl", "rm"];

function which(command: string): string {
  const found = spawnSync("bash", ["-c", `command -v ${command}`], { encoding: "utf8" }).stdout.trim();
  if (found === "") throw new Error(`${command} is not on PATH; the setup-system test needs it`);
  return found;
}

describe.skipIf(!debianLike)("setup-system.sh on Debian/Ubuntu", () => {
  let scratch: TempDir;
  let bin: string;
  let calls: string;

  beforeEach(async () => {
    scratch = await tempDir("skittle-setup-system-");
    bin = join(scratch.path, "bin");
    calls = join(scratch.path, "calls.log");
    writeFileSync(calls, "");
    mkdirSync(bin);
    for (const tool of REAL_TOOLS) symlinkSync(which(tool), join(bin, tool));
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >>"$STUB_CALLS"\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    stub("apt-get", "");
    stub("sudo", 'exec "$@"');
    stub("chromium", ""); // the browser, through CHROME_PATH
  });

  afterEach(async () => {
    await scratch?.[Symbol.asyncDispose]();
  });

  const setupSystem = (...args: string[]) =>
    spawnSync(join(bin, "bash"), [SCRIPT, ...args], {
      encoding: "utf8",
      env: { PATH: bin, HOME: scratch.path, STUB_CALLS: calls, CHROME_PATH: join(bin, "chromium") },
    });
  const installs = () =>
    readFileSync(calls, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("apt-get install"));

  it("installs systemd and shellcheck with apt when systemd-analyze and shellcheck are missing", () => {
    const result = setupSystem();
    expect(result.stderr).toContain("setup-system: installing systemd shellcheck with apt");
    expect(result.status).toBe(0);
    expect(readFileSync(calls, "utf8")).toContain("apt-get update -qq");
    expect(installs()).toEqual(["apt-get install -y -qq --no-install-recommends systemd shellcheck"]);
  });

  it("installs only what is missing, and nothing (silently) when both are there", () => {
    symlinkSync(join(bin, "apt-get"), join(bin, "shellcheck"));
    expect(setupSystem().status).toBe(0);
    expect(installs()).toEqual(["apt-get install -y -qq --no-install-recommends systemd"]);

    writeFileSync(calls, "");
    symlinkSync(join(bin, "apt-get"), join(bin, "systemd-analyze"));
    const result = setupSystem();
    expect(result).toMatchObject({ status: 0, stdout: "", stderr: "" });
    expect(readFileSync(calls, "utf8")).toBe("");
  });

  it("installs mosquitto for the bench with --bench only, and refuses unknown arguments", () => {
    symlinkSync(join(bin, "apt-get"), join(bin, "shellcheck"));
    symlinkSync(join(bin, "apt-get"), join(bin, "systemd-analyze"));
    expect(setupSystem().status).toBe(0);
    expect(installs()).toEqual([]);
    expect(setupSystem("--bench").status).toBe(0);
    expect(installs()).toEqual(["apt-get install -y -qq --no-install-recommends mosquitto"]);
    const wrong = setupSystem("--bnech");
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain("unknown argument --bnech");
  });
});
