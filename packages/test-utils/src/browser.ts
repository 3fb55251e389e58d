import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { win32 } from "node:path";

/** What `findBrowser` looks at; every field defaults to the real machine, so tests can pass their own. */
export interface FindBrowserOptions {
  /** Where `CHROME_PATH` is read from: pass `process.env` from the caller (a library reads no environment). */
  env: Readonly<Record<string, string | undefined>>;
  platform?: NodeJS.Platform | undefined;
  /** True when `path` is an executable file. */
  isExecutable?: (path: string) => boolean | undefined;
  /** The text of /etc/os-release, or undefined when there is none. */
  osRelease?: () => string | undefined;
}

export type BrowserSearch =
  | { found: true; path: string }
  /** `aptPackage` is set only on Debian and Ubuntu, where scripts/setup-system.sh may install it. */
  | { found: false; message: string; aptPackage?: string };

/** Chrome, Chromium and Edge where their installers put them, most likely first. */
export function browserCandidates(
  platform: NodeJS.Platform,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  if (platform === "darwin") {
    const apps = [
      "Google Chrome.app/Contents/MacOS/Google Chrome",
      "Chromium.app/Contents/MacOS/Chromium",
      "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
    ];
    const home = env.HOME;
    return [
      ...apps.map((app) => `/Applications/${app}`),
      ...(home === undefined ? [] : apps.map((app) => `${home}/Applications/${app}`)),
    ];
  }
  if (platform === "win32") {
    const roots = [env.PROGRAMFILES, env["PROGRAMFILES(X86)"], env.LOCALAPPDATA].filter(
      (root): root is string => root !== undefined && root !== "",
    );
    return ["Google\\Chrome\\Application\\chrome.exe", "Microsoft\\Edge\\Application\\msedge.exe"].flatMap(
      (exe) => roots.map((root) => win32.join(root, exe)),
    );
  }
  return [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/usr/bin/microsoft-edge",
    "/usr/bin/microsoft-edge-stable",
    "/snap/bin/chromium",
    "/opt/google/chrome/chrome",
  ];
}

/** The apt package that provides Chromium, on Debian and Ubuntu (and their derivatives) only. */
export function aptChromiumPackage(osRelease: string | undefined): string | undefined {
  if (osRelease === undefined) return undefined;
  const field = (name: string): string[] =>
    (osRelease.match(new RegExp(`^${name}=["']?([^"'\\n]*)`, "m"))?.[1] ?? "").toLowerCase().split(/\s+/);
  const ids = [...field("ID"), ...field("ID_LIKE")];
  if (ids.includes("ubuntu")) return "chromium-browser";
  if (ids.includes("debian")) return "chromium";
  return undefined;
}

/**
 * Finds an installed Chrome, Chromium or Edge for the browser tests: `CHROME_PATH` if set (and it must then be an
 * executable), else the usual install locations for the platform. Never installs anything.
 */
export function findBrowser(options: FindBrowserOptions): BrowserSearch {
  const { env } = options;
  const platform = options.platform ?? process.platform;
  const isExecutable = options.isExecutable ?? isExecutableFile;
  const chromePath = env.CHROME_PATH;
  if (chromePath !== undefined && chromePath !== "") {
    return isExecutable(chromePath)
      ? { found: true, path: chromePath }
      : {
          found: false,
          message: `CHROME_PATH=${chromePath} is not an executable file: point it at Chrome, Chromium or Edge, or unset it.`,
        };
  }
  const candidates = browserCandidates(platform, env);
  const path = candidates.find(isExecutable);
  if (path !== undefined) return { found: true, path };
  const aptPackage =
    platform === "linux" ? aptChromiumPackage((options.osRelease ?? readOsRelease)()) : undefined;
  const message =
    `No Chrome, Chromium or Edge found (looked at ${candidates.join(", ")}): install one` +
    `${aptPackage === undefined ? "" : ` (sudo apt-get install ${aptPackage})`}, or set CHROME_PATH to its executable.`;
  return aptPackage === undefined ? { found: false, message } : { found: false, message, aptPackage };
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function readOsRelease(): string | undefined {
  try {
    return readFileSync("/etc/os-release", "utf8");
  } catch {
    return undefined;
  }
}
