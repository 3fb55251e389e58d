import { readFileSync } from "node:fs";

/** The version in this package's package.json (src/ and dist/ both sit beside it). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}
