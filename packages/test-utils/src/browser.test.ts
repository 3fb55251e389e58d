import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aptChromiumPackage, browserCandidates, findBrowser, tempDir } from "./index.ts";

const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n';
const UBUNTU = "NAME=Ubuntu\nID=ubuntu\nID_LIKE=debian\n";
const MINT = 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n';
const FEDORA = 'NAME="Fedora Linux"\nID=fedora\n';

const only =
  (...present: string[]) =>
  (path: string): boolean =>
    present.includes(path);

describe("findBrowser", () => {
  it("uses CHROME_PATH before any usual location", () => {
    expect(
      findBrowser({
        env: { CHROME_PATH: "/opt/my/chrome" },
        platform: "linux",
        isExecutable: only("/opt/my/chrome", "/usr/bin/chromium"),
      }),
    ).toEqual({ found: true, path: "/opt/my/chrome" });
  });

  it("says so when CHROME_PATH points at nothing, rather than silently using another browser", () => {
    const result = findBrowser({
      env: { CHROME_PATH: "/nope/chrome" },
      platform: "linux",
      isExecutable: only("/usr/bin/chromium"),
    });
    expect(result).toEqual({
      found: false,
      message: expect.stringContaining("CHROME_PATH=/nope/chrome is not an executable file"),
    });
  });

  it("takes the first usual Linux location that exists, in order", () => {
    const search = (...present: string[]) =>
      findBrowser({ env: {}, platform: "linux", isExecutable: only(...present), osRelease: () => DEBIAN });
    expect(search("/usr/bin/google-chrome-stable", "/usr/bin/chromium-browser")).toEqual({
      found: true,
      path: "/usr/bin/chromium-browser",
    });
    expect(search("/usr/bin/microsoft-edge", "/usr/bin/google-chrome")).toEqual({
      found: true,
      path: "/usr/bin/google-chrome",
    });
    expect(browserCandidates("linux", {})[0]).toBe("/usr/bin/chromium");
  });

  it("finds Chrome, Chromium or Edge on macOS and Windows", () => {
    expect(
      findBrowser({
        env: { HOME: "/Users/ann" },
        platform: "darwin",
        isExecutable: only("/Users/ann/Applications/Chromium.app/Contents/MacOS/Chromium"),
      }),
    ).toEqual({ found: true, path: "/Users/ann/Applications/Chromium.app/Contents/MacOS/Chromium" });
    expect(
      findBrowser({
        env: { "PROGRAMFILES(X86)": "C:\\Program Files (x86)" },
        platform: "win32",
        isExecutable: only("C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"),
      }),
    ).toEqual({ found: true, path: "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe" });
  });

  it("offers apt only on Debian and Ubuntu; elsewhere one line saying what to do", () => {
    const missing = (platform: NodeJS.Platform, osRelease?: string) =>
      findBrowser({ env: {}, platform, isExecutable: () => false, osRelease: () => osRelease });
    expect(missing("linux", DEBIAN)).toMatchObject({ found: false, aptPackage: "chromium" });
    expect(missing("linux", UBUNTU)).toMatchObject({ found: false, aptPackage: "chromium-browser" });
    for (const result of [missing("linux", FEDORA), missing("linux"), missing("darwin", DEBIAN)]) {
      expect(result.found).toBe(false);
      expect(result).not.toHaveProperty("aptPackage");
      if (result.found) continue;
      expect(result.message).not.toContain("\n");
      expect(result.message).not.toContain("apt-get");
      expect(result.message).toMatch(/install one, or set CHROME_PATH to its executable\.$/);
    }
  });

  it("reads ID and ID_LIKE from os-release", () => {
    expect(aptChromiumPackage(MINT)).toBe("chromium-browser");
    expect(aptChromiumPackage(FEDORA)).toBeUndefined();
    expect(aptChromiumPackage(undefined)).toBeUndefined();
  });

  it("checks the real file system by default: an executable file counts, a plain file or a directory does not", async () => {
    await using dir = await tempDir();
    const exe = join(dir.path, "chrome");
    const plain = join(dir.path, "plain");
    await writeFile(exe, "#!/bin/sh\n");
    await chmod(exe, 0o755);
    await writeFile(plain, "");
    await mkdir(join(dir.path, "folder"));
    expect(findBrowser({ env: { CHROME_PATH: exe } })).toEqual({ found: true, path: exe });
    expect(findBrowser({ env: { CHROME_PATH: plain } }).found).toBe(false);
    expect(findBrowser({ env: { CHROME_PATH: join(dir.path, "folder") } }).found).toBe(false);
  });
});
