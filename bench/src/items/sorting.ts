import type { BenchItem } from "../results.ts";

/**
 * Item 6: sorting on the emulated rig, skittles per minute at 100 % accuracy, ours (waits derived from the servo
 * speed model) vs the original's fixed-sleep cycle (pick 1000 ms, detect 500 ms, chute 200 ms, drop 1500 ms)
 * under the same servo speed model.
 *
 * Not wired yet: apps/sorter has the emulated rig (`EmulatedRig`) and the loop (`Sorter`), but no entry point that
 * runs N skittles with a given timing policy (derived waits, or the original's fixed sleeps) and returns accuracy and
 * skittles/minute. Once it has one, e.g.
 *   runEmulatedSort({ skittles: 200, seed: 1, timing: "derived" | { pickMs: 1000, detectMs: 500, chuteMs: 200, dropMs: 1500 } })
 *     → { accuracy, skittlesPerMinute, rigTimeMs }
 * this module calls it for both policies, alternating, and reports the medians and the ratio.
 */
export const sorting: BenchItem = {
  id: 6,
  title: "Sorting on the emulated rig: skittles/min at 100 % accuracy vs the original's fixed-sleep cycle",
  async run() {
    return {
      status: "todo",
      rows: [],
      details: {},
      notes: [],
      problem:
        "apps/sorter does not export a function that runs N skittles on the emulated rig with a given timing policy (derived waits vs the original's fixed sleeps: pick 1000 ms, detect 500 ms, chute 200 ms, drop 1500 ms) and returns accuracy and skittles/minute. bench/src/items/sorting.ts is the place to wire it.",
    };
  },
};
