// bin/skittle-sorter.js is what `skittle-sorter` and the systemd unit's ExecStart run: its shebang picks node's flags.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SOFTWARE_VERSION } from "./version.ts";

const bin = fileURLToPath(new URL("../bin/skittle-sorter.js", import.meta.url));
const SHEBANG = "#!/usr/bin/env -S node ";

describe("bin/skittle-sorter.js", () => {
  it("starts node with the flags that keep the device app small, and node accepts them", () => {
    const shebang = readFileSync(bin, "utf8").split("\n")[0] ?? "";
    expect(shebang.startsWith(SHEBANG)).toBe(true);
    const flags = shebang.slice(SHEBANG.length).split(" ");
    expect(flags).toEqual(["--max-semi-space-size=1", "--no-opt"]);
    // Short-lived garbage grows the young generation to its limit: 32 MiB with node's defaults, 2 MiB here.
    const churn = `let kept = []; for (let i = 0; i < 3e6; i++) { kept.push({ i }); if (kept.length > 1e5) kept = []; }
      require("node:v8").getHeapSpaceStatistics().find((space) => space.space_name === "new_space").space_size`;
    const youngGeneration = execFileSync(process.execPath, [...flags, "-p", churn]);
    expect(Number(youngGeneration.toString())).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it("runs as an executable through that shebang", () => {
    expect(execFileSync(bin, ["--version"]).toString().trim()).toBe(SOFTWARE_VERSION);
  });
});
