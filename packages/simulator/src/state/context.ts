import type { Clock, Logger } from "@skittlesorter/core";
import type { Settings } from "./model.ts";
import type { Store } from "./store.ts";
import type { KeyVault } from "./vault.ts";

/** What every part of a running simulator shares. */
export interface SimContext {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** CA keys and PEMs: files under the data directory, or memory. */
  vault: KeyVault;
  idScope: string;
  adrNamespace: string;
  settings(): Settings;
  updateSettings(patch: Partial<Settings>): Settings;
  /** The current `sim.json` object. */
  config(): Record<string, unknown>;
  /** Called after a change that `sim.json` reflects (enrollments, hubs, settings): rewrites it. */
  changed(): Promise<void>;
  nowIso(): string;
}

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  assignmentDelayMs: 0,
  strictCsr: false,
  registrationsPerMinute: 0,
});

export const LIMITS = Object.freeze({
  minValidityDays: 7,
  maxValidityDays: 90,
  defaultValidityDays: 30,
  maxAssignmentDelayMs: 10 * 60 * 1000,
});
