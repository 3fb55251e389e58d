import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { readSimFile } from "./sim-file.ts";

// `--sim` takes the sim.json, or the simulator's data directory (what `skittle-sim --data-dir` takes).
describe("readSimFile", () => {
  it("reads the sim.json given as a file or through its directory", async () => {
    await using dir = await tempDir("skittle-sim-file-");
    const file = join(dir.path, "sim.json");
    await writeFile(file, JSON.stringify({ idScope: "0ne00000001" }));
    for (const given of [file, dir.path]) {
      const sim = await readSimFile(given);
      expect(sim).toEqual({ file, json: { idScope: "0ne00000001" } });
    }
  });

  it("says how to pass either form when there is no sim.json", async () => {
    await using dir = await tempDir("skittle-sim-file-");
    await expect(readSimFile(dir.path)).rejects.toMatchObject({
      code: "SIM_FILE_UNREADABLE",
      message: expect.stringContaining(`${join(dir.path, "sim.json")} (ENOENT)`),
    });
    await expect(readSimFile(dir.path)).rejects.toThrow(/--sim DIR \(or DIR\/sim\.json\)/);
  });
});
