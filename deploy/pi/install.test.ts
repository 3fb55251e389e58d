// deploy/pi/install.sh against a fake root (--root) with the system commands it calls (apt-get, dpkg-query,
// groupadd, useradd, usermod, chgrp, npm, systemctl) replaced by stubs on PATH that record their calls and act on
// the fake root. Proves: --dry-run prints every step and changes nothing; a real run installs everything; a second
// run changes nothing; a configuration, the secrets file and the data directory are never overwritten.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureDebianTool } from "../debian-tool.test-support.ts";

const here = dirname(fileURLToPath(import.meta.url));
const INSTALL = join(here, "install.sh");
const REPO = join(here, "../..");
const TEMPLATES = join(REPO, "apps/sorter/config");

// Each stub appends "name args…" to $STUB_CALLS. groupadd/useradd/usermod edit the fake root's /etc files the way
// the real ones (with --root) would; npm installs a fake @skittlesorter/sorter carrying the real templates.
const STUBS: Record<string, string> = {
  "apt-get": "",
  "dpkg-query": `echo "install ok installed"`,
  chgrp: "",
  groupadd: `r=$2; g=\${@: -1}; echo "$g:x:$((900 + $(wc -l <"$r/etc/group"))):" >>"$r/etc/group"`,
  useradd: `r=$2; u=\${@: -1}; gid=$((900 + $(wc -l <"$r/etc/group")))
echo "$u:x:$gid:" >>"$r/etc/group"
echo "$u:x:$gid:$gid:Skittle Sorter:/nonexistent:/usr/sbin/nologin" >>"$r/etc/passwd"`,
  usermod: `r=$2; g=$5; u=$6; sed -i -E "s/^($g:[^:]*:[^:]*:)(.*)$/\\1\\2,$u/; s/^($g:[^:]*:[^:]*:),/\\1/" "$r/etc/group"`,
  npm: `prefix=""; args=("$@")
for i in "\${!args[@]}"; do [ "\${args[$i]}" = --prefix ] && prefix=\${args[$((i + 1))]}; done
case "$1" in
  root) echo "$prefix/lib/node_modules" ;;
  view) echo "$FAKE_NPM_VERSION" ;;
  install)
    pkg="$prefix/lib/node_modules/@skittlesorter/sorter"
    mkdir -p "$pkg/config" "$prefix/bin"
    echo "{\\"name\\": \\"@skittlesorter/sorter\\", \\"version\\": \\"$FAKE_NPM_VERSION\\"}" >"$pkg/package.json"
    cp "$FAKE_TEMPLATES"/appsettings.*.template.json "$pkg/config/"
    ln -sfn ../lib/node_modules/@skittlesorter/sorter/bin/skittle-sorter.js "$prefix/bin/skittle-sorter" ;;
esac`,
  systemctl: `r=$2; wants="$r/etc/systemd/system/multi-user.target.wants/skittle-sorter.service"
case "$3" in
  is-enabled) [ -L "$wants" ] ;;
  enable) mkdir -p "$(dirname "$wants")"; ln -sfn /etc/systemd/system/skittle-sorter.service "$wants" ;;
esac`,
};

let scratch: string;
let root: string;
let stubs: string;
let calls: string;

beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), "skittle-install-"));
  root = join(scratch, "root");
  stubs = join(scratch, "stubs");
  calls = join(scratch, "calls.log");
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "boot/firmware"), { recursive: true });
  mkdirSync(stubs);
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  // Raspberry Pi OS has the gpio group; i2c is created by the installer here.
  writeFileSync(join(root, "etc/group"), "root:x:0:\ngpio:x:997:pi\n");
  writeFileSync(
    join(root, "boot/firmware/config.txt"),
    "# For more options and information see http://rpf.io/configtxt\n#dtparam=i2c_arm=on\n#dtparam=spi=on\ndtparam=audio=on\n",
  );
  for (const [name, body] of Object.entries(STUBS)) {
    const file = join(stubs, name);
    writeFileSync(file, `#!/usr/bin/env bash\necho "${name} $*" >>"$STUB_CALLS"\n${body}\n`);
    chmodSync(file, 0o755);
  }
});

afterEach(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function install(args: string[], version = "0.1.0") {
  const result = spawnSync("bash", [INSTALL, "--root", root, ...args], {
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: `${stubs}:${process.env.PATH}`,
      STUB_CALLS: calls,
      FAKE_NPM_VERSION: version,
      FAKE_TEMPLATES: TEMPLATES,
    },
  });
  const recorded = existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [];
  rmSync(calls, { force: true });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls: recorded };
}

/** path → sha256 and mode of every file and link under the fake root. */
function snapshot(): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isSymbolicLink()) files[relative(root, path)] = `link ${readlinkSync(path)}`;
      else {
        const mode = (statSync(path).mode & 0o777).toString(8);
        files[relative(root, path)] =
          `${mode} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
      }
    }
  };
  walk(root);
  return files;
}

const changing = (calls: string[]) =>
  calls.filter((call) => !/^(dpkg-query|npm (root|view)|systemctl \S+ \S+ is-enabled)/.test(call));

describe("deploy/pi/install.sh", () => {
  it("--dry-run prints every step with its command and changes nothing", () => {
    const before = snapshot();
    const result = install(["--dry-run"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const would = result.stdout.split("\n").filter((line) => line.startsWith("would "));
    expect(would.map((line) => line.replace(/^would\s+/, ""))).toEqual([
      "enable I2C: set dtparam=i2c_arm=on in /boot/firmware/config.txt",
      "load i2c-dev at boot (/etc/modules-load.d/i2c-dev.conf)",
      "create the system group i2c",
      "create the system user skittle (no login, no home)",
      "add user skittle to group i2c",
      "add user skittle to group gpio",
      "install @skittlesorter/sorter@latest with npm -g",
      "create /etc/skittle-sorter (0755; the secrets live in env, 0600)",
      "install the sas configuration template as /etc/skittle-sorter/appsettings.json (0640)",
      "let group skittle read it",
      "create /etc/skittle-sorter/env for the group key (root only, 0600)",
      "install /etc/systemd/system/skittle-sorter.service",
      "enable skittle-sorter at boot",
    ]);
    // Each step shows the command it would run.
    expect(result.stdout).toContain(`$ useradd --root ${root} --system --user-group`);
    expect(result.stdout).toContain(`$ npm install -g --prefix ${root}/usr --omit=dev`);
    expect(result.stdout).toContain(`$ systemctl --root ${root} enable skittle-sorter`);
    expect(result.stdout).toMatch(/dry run: 13 step\(s\) would change the system/);
    expect(changing(result.calls)).toEqual([]);
    expect(snapshot()).toEqual(before);
  });

  it("installs everything, then a second run changes nothing", () => {
    const first = install([]);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(first.stdout).toContain("done: 13 change(s)");
    expect(first.stdout).toContain("reboot to apply the config.txt changes");

    const config = readFileSync(join(root, "boot/firmware/config.txt"), "utf8");
    expect(config).toMatch(/^dtparam=i2c_arm=on$/m);
    expect(config).not.toContain("#dtparam=i2c_arm=on");
    expect(config).not.toContain("pwm-2chan");
    expect(readFileSync(join(root, "etc/group"), "utf8")).toMatch(/^gpio:x:997:pi,skittle$/m);
    expect(readFileSync(join(root, "etc/group"), "utf8")).toMatch(/^i2c:x:\d+:skittle$/m);
    expect(readFileSync(join(root, "etc/passwd"), "utf8")).toMatch(/^skittle:.*:\/usr\/sbin\/nologin$/m);
    const settings = JSON.parse(readFileSync(join(root, "etc/skittle-sorter/appsettings.json"), "utf8"));
    expect(settings.DataDir, "the unit's StateDirectory is the data directory").toBeUndefined();
    expect(settings.IoTHub.DpsProvisioning).toBeDefined();
    expect(statSync(join(root, "etc/skittle-sorter/env")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(root, "etc/systemd/system/skittle-sorter.service"), "utf8")).toBe(
      readFileSync(join(here, "../systemd/skittle-sorter.service"), "utf8"),
    );
    expect(
      readlinkSync(join(root, "etc/systemd/system/multi-user.target.wants/skittle-sorter.service")),
    ).toBe("/etc/systemd/system/skittle-sorter.service");

    const installed = snapshot();
    const second = install([]);
    expect(second.status).toBe(0);
    expect(second.stdout.split("\n").filter((line) => /^(change|would)/.test(line))).toEqual([]);
    expect(second.stdout).toContain("nothing to do: everything is installed and current");
    expect(changing(second.calls)).toEqual([]);
    expect(snapshot()).toEqual(installed);
  });

  it("keeps an edited configuration, the secrets and the data directory when it updates the app", () => {
    expect(install([]).status).toBe(0);
    const edited = '{ "IoTHub": { "SendTelemetry": false }, "Hardware": { "ServoDriver": "sysfs" } }\n';
    writeFileSync(join(root, "etc/skittle-sorter/appsettings.json"), edited);
    writeFileSync(
      join(root, "etc/skittle-sorter/env"),
      "SKITTLE__IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64=a2V5\n",
    );
    mkdirSync(join(root, "var/lib/skittle-sorter/certs"), { recursive: true });
    writeFileSync(join(root, "var/lib/skittle-sorter/certs/device.key.pem"), "key");

    const update = install([], "0.2.0");
    expect(update.status).toBe(0);
    expect(update.stdout).toMatch(
      /^change +install @skittlesorter\/sorter@latest with npm -g \(replacing 0\.1\.0\)$/m,
    );
    // ServoDriver "sysfs" in the kept configuration asks for the hardware-PWM overlay.
    expect(update.stdout).toMatch(/^change +enable hardware PWM on GPIO12\/13: add dtoverlay=pwm-2chan/m);
    expect(readFileSync(join(root, "boot/firmware/config.txt"), "utf8")).toMatch(
      /^dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4$/m,
    );
    expect(readFileSync(join(root, "etc/skittle-sorter/appsettings.json"), "utf8")).toBe(edited);
    expect(readFileSync(join(root, "etc/skittle-sorter/env"), "utf8")).toContain("=a2V5");
    expect(readFileSync(join(root, "var/lib/skittle-sorter/certs/device.key.pem"), "utf8")).toBe("key");
    expect(update.stdout).toContain("ok      /etc/skittle-sorter/appsettings.json exists (kept as it is)");
    expect(update.stdout).not.toContain("a2V5");
  });

  it("stops with install instructions when Node.js is older than 20.19", () => {
    writeFileSync(join(stubs, "node"), "#!/bin/sh\necho v18.20.4\n");
    chmodSync(join(stubs, "node"), 0o755);
    const result = install([]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("needs Node.js 20.19.0 or later; this one is 18.20.4");
    expect(result.stderr).toContain("deb.nodesource.com");
    expect(result.stderr).toContain("linux-arm64.tar.xz");
    expect(changing(result.calls)).toEqual([]);
  });

  it("installs the missing build tools from apt (after apt-get update)", () => {
    writeFileSync(
      join(stubs, "dpkg-query"),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash script, where ${@: -1} is the last argument
      '#!/usr/bin/env bash\n[ "${@: -1}" = i2c-tools ] && echo "unknown ok not-installed" || echo "install ok installed"\n',
    );
    const result = install([]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^change +install i2c-tools from apt$/m);
    expect(result.calls.filter((call) => call.startsWith("apt-get"))).toEqual([
      "apt-get update -qq",
      "apt-get install -y --no-install-recommends i2c-tools",
    ]);
  });

  it("is shellcheck-clean", () => {
    ensureDebianTool("shellcheck", "shellcheck");
    const result = spawnSync("shellcheck", [INSTALL], { encoding: "utf8" });
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it("rejects unknown options and a --tarballs directory without the sorter", () => {
    expect(install(["--frobnicate"]).stderr).toContain("unknown option --frobnicate");
    const empty = join(scratch, "empty");
    mkdirSync(empty);
    const result = install(["--tarballs", empty]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("holds no skittlesorter-sorter-*.tgz");
  });
});
