import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);

it("imports on a machine without I2C, without loading the i2c-bus native module", async () => {
  const entries = ["./index.ts", "./testing.ts"].map((entry) =>
    fileURLToPath(new URL(entry, import.meta.url)),
  );
  const script = `
    import { createRequire } from "node:module";
    for (const entry of ${JSON.stringify(entries)}) await import(entry);
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes("i2c-bus"));
    process.stdout.write(JSON.stringify(loaded));
  `;
  const { stdout } = await run(
    process.execPath,
    ["--conditions=@skittlesorter/source", "--import", "tsx", "--input-type=module", "-e", script],
    { cwd: fileURLToPath(new URL("..", import.meta.url)) },
  );
  expect(JSON.parse(stdout)).toEqual([]);
});
