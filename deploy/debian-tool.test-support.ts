import { execFileSync, spawnSync } from "node:child_process";

/**
 * Makes sure `command` is on PATH, installing Debian's `debianPackage` with apt-get when it is missing and we are
 * root (as on the CI machine). Throws, naming the install command, when it cannot.
 */
export function ensureDebianTool(command: string, debianPackage: string): void {
  if (spawnSync(command, ["--version"]).status === 0) return;
  if (process.getuid?.() !== 0 || spawnSync("apt-get", ["--version"]).status !== 0) {
    throw new Error(
      `${command} is missing and cannot be installed here (needs root and apt-get): sudo apt-get install -y ${debianPackage}`,
    );
  }
  execFileSync(
    "sh",
    [
      "-c",
      `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${debianPackage}`,
    ],
    { stdio: "pipe" },
  );
}
