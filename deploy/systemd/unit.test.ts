// `systemd-analyze verify` on deploy/systemd/skittle-sorter.service, in a scratch root that holds systemd's own
// units and a stand-in `skittle-sorter` on the executable search path, so that any message it prints is about
// the unit itself. Debian's systemd is installed when missing (root with apt-get).
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDebianTool } from "../debian-tool.test-support.ts";

const UNIT = join(dirname(fileURLToPath(import.meta.url)), "skittle-sorter.service");
const SYSTEM_UNITS = ["/usr/lib/systemd/system", "/lib/systemd/system"].find((dir) =>
  existsSync(join(dir, "multi-user.target")),
);

let root: string;

beforeAll(() => {
  ensureDebianTool("systemd-analyze", "systemd");
  root = mkdtempSync(join(tmpdir(), "skittle-unit-"));
});

afterAll(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** Verifies `unitText` inside a fresh scratch root; `withBinary: false` leaves out the stand-in skittle-sorter. */
function verify(unitText: string, { withBinary = true } = {}): { status: number | null; messages: string } {
  const scratch = mkdtempSync(join(root, "case-"));
  const systemDir = SYSTEM_UNITS ?? "/usr/lib/systemd/system";
  cpSync(systemDir, join(scratch, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
  if (withBinary) {
    mkdirSync(join(scratch, "usr/local/bin"), { recursive: true });
    writeFileSync(join(scratch, "usr/local/bin/skittle-sorter"), "#!/bin/sh\n");
    chmodSync(join(scratch, "usr/local/bin/skittle-sorter"), 0o755);
  }
  const unitFile = join(scratch, "etc/systemd/system/skittle-sorter.service");
  mkdirSync(dirname(unitFile), { recursive: true });
  writeFileSync(unitFile, unitText);
  const result = spawnSync("systemd-analyze", [`--root=${scratch}`, "--man=no", "verify", unitFile], {
    encoding: "utf8",
  });
  return { status: result.status, messages: `${result.stdout}${result.stderr}`.trim() };
}

const unit = readFileSync(UNIT, "utf8");

describe("deploy/systemd/skittle-sorter.service", () => {
  it("passes systemd-analyze verify without a single message", () => {
    expect(verify(unit)).toEqual({ status: 0, messages: "" });
  });

  it("is caught by the same check when it is broken (misspelt key, bad value, missing binary)", () => {
    const misspelt = verify(unit.replace("NoNewPrivileges=yes", "NoNewPrivilegs=yes"));
    expect(misspelt.messages).toContain("Unknown key 'NoNewPrivilegs'");
    const badValue = verify(unit.replace("Restart=on-failure", "Restart=sometimes"));
    expect(badValue.messages).toMatch(/restart specifier.*sometimes/i);
    const noBinary = verify(unit, { withBinary: false });
    expect(noBinary.status).not.toBe(0);
    expect(noBinary.messages).toContain("skittle-sorter is not executable");
  });

  it("runs as skittle with i2c/gpio, its state and config directories, the secrets file and restart on failure", () => {
    const settings = unit
      .split("\n")
      .filter((line) => /^[A-Za-z]+=/.test(line))
      .map((line) => line.trim());
    expect(settings).toEqual(
      expect.arrayContaining([
        "User=skittle",
        "SupplementaryGroups=i2c gpio",
        "StateDirectory=skittle-sorter",
        "ConfigurationDirectory=skittle-sorter",
        "EnvironmentFile=/etc/skittle-sorter/env",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "DevicePolicy=closed",
        "DeviceAllow=/dev/i2c-1 rw",
        "DeviceAllow=char-gpiochip rw",
        "StandardOutput=journal",
      ]),
    );
    // PrivateDevices= would hide /dev/i2c-1; ProtectKernelTunables= would make the PWM sysfs read-only.
    expect(settings.some((line) => line.startsWith("PrivateDevices="))).toBe(false);
    expect(settings.some((line) => line.startsWith("ProtectKernelTunables="))).toBe(false);
    // The data directory comes from $STATE_DIRECTORY (no --data-dir on the command line).
    expect(settings.find((line) => line.startsWith("ExecStart="))).not.toContain("--data-dir");
  });
});
