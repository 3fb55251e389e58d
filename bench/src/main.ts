// `pnpm bench`: runs every measurement, prints the table, writes bench/results/latest.json and rewrites
// docs/benchmarks.md. Flags: --quick (smoke test: few runs, results/quick.json, docs untouched),
// --only 1,3 (a subset: results/partial.json, docs untouched), --no-docs, --render (no measuring: rewrite
// docs/benchmarks.md from bench/results/latest.json, e.g. after changing its wording).
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { analyse } from "./analysis.ts";
import { capacity } from "./items/capacity.ts";
import { csrProvision } from "./items/csr-provision.ts";
import { hubClients } from "./items/hub-clients.ts";
import { keygen } from "./items/keygen.ts";
import { memory } from "./items/memory.ts";
import { provisionLatency } from "./items/provision-latency.ts";
import { sorting } from "./items/sorting.ts";
import { telemetry } from "./items/telemetry.ts";
import { machine } from "./machine.ts";
import { markdown, textTable } from "./report.ts";
import type { BenchItem, BenchResults, ItemResult } from "./results.ts";

const ITEMS: readonly BenchItem[] = [
  provisionLatency,
  csrProvision,
  capacity,
  telemetry,
  keygen,
  sorting,
  hubClients,
  memory,
];
const root = fileURLToPath(new URL("../../", import.meta.url));

interface Args {
  quick: boolean;
  only: Set<number> | undefined;
  docs: boolean;
  render: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let quick = false;
  let docs = true;
  let render = false;
  let only: Set<number> | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    if (arg === "--quick") quick = true;
    else if (arg === "--no-docs") docs = false;
    else if (arg === "--render") render = true;
    else if (arg === "--only") {
      const list = argv[++index] ?? "";
      only = new Set(list.split(",").map(Number));
      if ([...only].some((id) => !ITEMS.some((item) => item.id === id))) {
        throw new Error(
          `--only takes item numbers from 1 to ${ITEMS.length}, comma-separated, got "${list}"`,
        );
      }
    } else if (arg !== "--") {
      throw new Error(`unknown argument "${arg}"; use --quick, --only 1,3, --no-docs, --render`);
    }
  }
  return { quick, only, docs, render };
}

const args = parseArgs(process.argv.slice(2));
const docsFile = join(root, "docs", "benchmarks.md");
const resultsDir = join(root, "bench", "results");

if (args.render) {
  const latest = JSON.parse(await readFile(join(resultsDir, "latest.json"), "utf8")) as BenchResults;
  await writeFile(docsFile, markdown(latest, analyse(latest)));
  process.stdout.write(`${textTable(latest)}\n`);
  process.stderr.write(
    `docs: ${docsFile} rewritten from ${join(resultsDir, "latest.json")} (${latest.date})\n`,
  );
  process.exit(0);
}

const started = performance.now();
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s`;
const log = (message: string): void => {
  process.stderr.write(`[${elapsed()}] ${message}\n`);
};

const host = machine();
log(
  `pnpm bench on ${host.cpu}, ${host.cores} cores, ${host.ramGiB} GiB, Node ${host.node}${args.quick ? " (quick)" : ""}`,
);
const scratch = await mkdtemp(join(tmpdir(), "skittle-bench-"));
const items: ItemResult[] = [];
try {
  for (const item of ITEMS) {
    if (args.only !== undefined && !args.only.has(item.id)) continue;
    log(`${item.id}. ${item.title}`);
    const workDir = join(scratch, `item-${item.id}`);
    await mkdir(workDir, { recursive: true });
    const itemStarted = performance.now();
    let result: Omit<ItemResult, "id" | "title" | "durationMs">;
    try {
      result = await item.run({ workDir, quick: args.quick, log });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`  FAILED: ${message}`);
      result = { status: "failed", rows: [], details: {}, notes: [], problem: message };
    }
    const durationMs = Math.round(performance.now() - itemStarted);
    items.push({ id: item.id, title: item.title, durationMs, ...result });
    log(`  ${result.status} in ${(durationMs / 1000).toFixed(1)} s`);
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}

const results: BenchResults = {
  version: 1,
  date: new Date().toISOString(),
  machine: host,
  quick: args.quick,
  durationMs: Math.round(performance.now() - started),
  items,
};
const complete = args.only === undefined && !args.quick;
await mkdir(resultsDir, { recursive: true });
const resultsFile = join(resultsDir, complete ? "latest.json" : args.quick ? "quick.json" : "partial.json");
await writeFile(resultsFile, `${JSON.stringify(results, null, 2)}\n`);

process.stdout.write(`\n${textTable(results)}\n\n`);
log(`results: ${resultsFile}`);
if (complete && args.docs) {
  await mkdir(join(root, "docs"), { recursive: true });
  await writeFile(docsFile, markdown(results, analyse(results)));
  log(`docs: ${docsFile}`);
} else {
  log("docs/benchmarks.md not rewritten (only a full run without --quick, --only or --no-docs rewrites it)");
}
const failed = items.filter((item) => item.status === "failed");
if (failed.length > 0) {
  log(`failed: ${failed.map((item) => item.id).join(", ")}`);
  process.exitCode = 1;
}
