#!/usr/bin/env node
import { existsSync } from "node:fs";

// In a fresh clone dist/ does not exist until `pnpm build`: say so in one line instead of a module-not-found trace.
const entry = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    "skittle-sim: not built yet (dist/ is missing): run `pnpm build` (npx -y pnpm@12.4.2 build) at the repository root first.\n",
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
