// The data directory of a simulator that keeps its state on disk: created owner-only, and locked to one simulator.
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SimulatorError } from "./errors.ts";

const LOCK_FILE = "sim.lock";

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Lock files this process holds (so a lock left by an earlier process with the same pid, e.g. pid 1 in a container, counts as stale). */
const heldLocks = new Set<string>();

async function acquireLock(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      heldLocks.add(path);
      return async () => {
        heldLocks.delete(path);
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
      const live = pid === process.pid ? heldLocks.has(path) : pidAlive(pid);
      if (Number.isInteger(pid) && pid > 0 && live) {
        throw new SimulatorError(
          "SIM_DATA_DIR",
          `Another simulator (pid ${pid}) is using ${dataDir}; stop it first or use another --data-dir.`,
        );
      }
      await rm(path, { force: true });
    }
  }
  throw new SimulatorError(
    "SIM_DATA_DIR",
    `Cannot lock ${dataDir}: remove ${path} if no simulator is running.`,
  );
}

/** Creates (0700) and locks the data directory; resolves to its absolute path and the unlock function. */
export async function openDataDir(given: string): Promise<{ dir: string; unlock: () => Promise<void> }> {
  if (given === "") {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      "dataDir must not be empty: pass the directory that keeps the simulator's state, or omit it to run in memory.",
    );
  }
  const dir = resolve(given);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new SimulatorError(
      "SIM_DATA_DIR",
      `Cannot create the data directory ${dir}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return { dir, unlock: await acquireLock(dir) };
}
