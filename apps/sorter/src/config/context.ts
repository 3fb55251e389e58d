import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { ConfigProblem } from "../errors.ts";

/** What each section's resolver reports into: problems (with fixes), warnings, and paths relative to the file. */
export interface Resolution {
  readonly configDir: string;
  readonly warnings: string[];
  problem(path: string, message: string, fix: string): void;
  warn(message: string): void;
  /** A path from the file, absolute (relative paths resolve against the file's directory). */
  fromConfig(path: string): string;
  /** `value` made absolute; a problem at `path` when that file does not exist. */
  mustExist(path: string, value: string | undefined, what: string): string | undefined;
}

export function createResolution(configDir: string, problems: ConfigProblem[]): Resolution {
  const problem = (path: string, message: string, fix: string): void => {
    problems.push({ path, message, fix });
  };
  const fromConfig = (path: string): string => (isAbsolute(path) ? path : resolve(configDir, path));
  const warnings: string[] = [];
  return {
    configDir,
    warnings,
    problem,
    warn: (message) => {
      warnings.push(message);
    },
    fromConfig,
    mustExist(path, value, what) {
      if (value === undefined) return undefined;
      const absolute = fromConfig(value);
      if (!existsSync(absolute)) {
        problem(
          path,
          `${what} "${absolute}" does not exist.`,
          `fix the path (relative paths resolve against ${configDir}).`,
        );
      }
      return absolute;
    },
  };
}
