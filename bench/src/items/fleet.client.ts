// Items 3 and 4, client side: one `skittle fleet` run (runFleet, the CLI command's core) in its own process.
import { readFile } from "node:fs/promises";
import { type FleetOptions, type FleetReport, runFleet } from "../../../apps/cli/src/commands/fleet-run.ts";

export interface Input extends Omit<FleetOptions, "ca" | "onProgress" | "signal"> {
  caFile: string;
}

export interface Output {
  report: FleetReport;
  /** CPU time of this (client) process during the run. */
  clientCpuMs: number;
}

export async function measure(input: Input): Promise<Output> {
  const { caFile, ...options } = input;
  const ca = await readFile(caFile, "utf8");
  const before = process.cpuUsage();
  const report = await runFleet({ ...options, ca });
  const used = process.cpuUsage(before);
  return { report, clientCpuMs: (used.user + used.system) / 1000 };
}
