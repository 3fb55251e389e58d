import { createRequire } from "node:module";

const pkg = createRequire(import.meta.url)("../package.json") as { name: string; version: string };

export const SOFTWARE_NAME = "skittle-sorter";
/** The sorter's package version (from package.json; src/ and dist/ sit beside it). */
export const SOFTWARE_VERSION: string = pkg.version;
