import type { Machine } from "./machine.ts";

/** A measured value; `null` when it could not be measured. */
export type Value = number | null;

/** One line of the results table. */
export interface Row {
  /** What was measured, e.g. "latency, median". */
  measure: string;
  unit: string;
  ours: Value;
  /** What we are compared with, e.g. "azure-iot-provisioning-device-mqtt". */
  baselineName?: string;
  baseline?: Value;
  /** ours ÷ baseline. */
  ratio?: Value;
  /** Which direction is better for `ours`. */
  better: "lower" | "higher";
}

export interface ItemResult {
  id: number;
  title: string;
  status: "ok" | "failed" | "todo";
  durationMs: number;
  rows: Row[];
  /** Raw figures (samples summaries, settings) for the JSON results. */
  details: Record<string, unknown>;
  /** Sentences for docs/benchmarks.md: how it was measured, and why we lose where we do. */
  notes: string[];
  /** Why the item failed or is not measured yet. */
  problem?: string;
}

export interface BenchResults {
  version: 1;
  date: string;
  machine: Machine;
  quick: boolean;
  durationMs: number;
  items: ItemResult[];
}

/** What every item gets from the orchestrator. */
export interface BenchContext {
  /** Scratch directory for this item (simulator data, keys); removed after the run. */
  workDir: string;
  /** Fewer runs and devices: a smoke test of the bench itself, not figures to publish. */
  quick: boolean;
  /** Progress lines for the terminal (stderr). */
  log(message: string): void;
}

export interface BenchItem {
  id: number;
  title: string;
  run(context: BenchContext): Promise<Omit<ItemResult, "id" | "title" | "durationMs">>;
}
