#!/usr/bin/env -S node --max-semi-space-size=1 --no-opt
// The node flags above keep the device app small (bench item 8): a 1 MiB young generation instead of 16 MiB
// semi-spaces, and no optimizing compiler (TurboFan's compilations and optimized code cost about 12 MiB; the app
// waits on servos and the network, not the CPU). `env -S` splits them (coreutils 8.30+, macOS; npm's and pnpm's
// shims read it too).
import { existsSync } from "node:fs";

// In a fresh clone dist/ does not exist until `pnpm build`: say so in one line instead of a module-not-found trace.
const entry = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    "skittle-sorter: not built yet (dist/ is missing): run `pnpm build` (npx -y pnpm@12.4.2 build) at the repository root first.\n",
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
