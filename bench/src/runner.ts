// Child process: imports a client module (argv[2]), runs its measure(input from argv[3]) and writes the
// result as JSON to argv[4]. Measurements run here, apart from the simulator and the orchestrator.
import { readFile, writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const [modulePath, inputFile, outputFile] = process.argv.slice(2);
if (modulePath === undefined || inputFile === undefined || outputFile === undefined) {
  throw new Error("usage: runner.ts MODULE INPUT.json OUTPUT.json");
}
const module = (await import(pathToFileURL(modulePath).href)) as {
  measure(input: unknown): Promise<unknown>;
};
const input: unknown = JSON.parse(await readFile(inputFile, "utf8"));
const output = await module.measure(input);
await writeFile(outputFile, JSON.stringify(output));
// Official SDK clients may leave timers behind; the measurement is done.
process.exit(0);
