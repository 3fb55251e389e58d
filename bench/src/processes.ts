import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { SimConfigOnDisk, StartSimulatorOptions } from "@skittlesorter/simulator";

const here = fileURLToPath(new URL(".", import.meta.url));

/** Node flags of this process (`--conditions=@skittlesorter/source --import tsx`), so children run TypeScript too. */
const nodeArgs = (): string[] => [...process.execArgv];

const tail = (text: string): string => text.slice(-2000).trim();

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc; null where there is no /proc. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const user = Number(fields[11]);
    const system = Number(fields[12]);
    return ((user + system) * 1000) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** Resident set size of a process in MiB, from /proc; null where there is no /proc. */
export function processRssMiB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match?.[1] === undefined ? null : Number(match[1]) / 1024;
  } catch {
    return null;
  }
}

export interface SimProcess {
  config: SimConfigOnDisk;
  pid: number;
  /** Stops the simulator (SIGTERM) and waits for it to exit. */
  close(): Promise<void>;
}

/**
 * Starts the simulator in its own process (as `skittle-sim start` would run), through `startSimulator`
 * with these options, and waits for it to be ready.
 */
export async function startSimProcess(options: StartSimulatorOptions): Promise<SimProcess> {
  const args = [...nodeArgs(), join(here, "sim-process.ts"), JSON.stringify(options)];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = tail(stderr + chunk.toString("utf8"));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const config = await new Promise<SimConfigOnDisk>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the simulator did not start within 120 s: ${stderr}`)),
      120_000,
    );
    const lines = createInterface({ input: child.stdout as NonNullable<ChildProcess["stdout"]> });
    lines.on("line", (line) => {
      if (!line.includes('"ready"')) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { config: SimConfigOnDisk }).config);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the simulator exited (${code}) before it was ready: ${stderr}`));
    });
  });
  let closed: Promise<void> | undefined;
  return {
    config,
    pid: child.pid as number,
    close() {
      closed ??= (async () => {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      })();
      return closed;
    },
  };
}

/**
 * Runs `measure(input)` of a client module (bench/src/items/*.client.ts) in a fresh Node process and
 * returns its result. `env` is added to the child's environment (e.g. NODE_EXTRA_CA_CERTS).
 */
export async function runClient<T>(
  module: string,
  input: unknown,
  options: { workDir: string; env?: Record<string, string>; timeoutMs: number },
): Promise<T> {
  const stamp = `${module.replace(/\W+/g, "-")}-${Date.now()}`;
  const inputFile = join(options.workDir, `${stamp}.in.json`);
  const outputFile = join(options.workDir, `${stamp}.out.json`);
  await writeFile(inputFile, JSON.stringify(input));
  const child = spawn(
    process.execPath,
    [...nodeArgs(), join(here, "runner.ts"), join(here, "items", module), inputFile, outputFile],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...options.env } },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = tail(stderr + chunk.toString("utf8"));
  });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${options.timeoutMs} ms)`;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.once("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  if (code !== 0) throw new Error(`${module} failed (exit ${code}): ${stderr}`);
  return JSON.parse(await readFile(outputFile, "utf8")) as T;
}

/**
 * Runs a plain JavaScript script of bench/src/items (`node SCRIPT INPUT.json OUTPUT.json`, no TypeScript loader,
 * packages resolved to their compiled dist/) in a fresh process and returns its output.
 */
export async function runPlainScript<T>(
  script: string,
  input: unknown,
  options: { workDir: string; timeoutMs: number; nodeFlags?: readonly string[] },
): Promise<T> {
  const stamp = `${script.replace(/\W+/g, "-")}-${Date.now()}`;
  const inputFile = join(options.workDir, `${stamp}.in.json`);
  const outputFile = join(options.workDir, `${stamp}.out.json`);
  await writeFile(inputFile, JSON.stringify(input));
  const args = [...(options.nodeFlags ?? []), join(here, "items", script), inputFile, outputFile];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = tail(stderr + chunk.toString("utf8"));
  });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.once("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  if (code !== 0) throw new Error(`${script} failed (exit ${code}): ${stderr}`);
  return JSON.parse(await readFile(outputFile, "utf8")) as T;
}

/** Compiles a workspace package and what it depends on (`tsc -b`, incremental: quick when nothing changed). */
export function buildPackage(directory: string): void {
  const root = join(here, "..", "..");
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "-b", join(root, directory)], { stdio: "pipe", cwd: root });
  } catch (error) {
    const output = (error as { stdout?: Buffer }).stdout?.toString("utf8") ?? String(error);
    throw new Error(`tsc -b ${directory} failed; run \`pnpm build\` to see why: ${tail(output)}`);
  }
}
