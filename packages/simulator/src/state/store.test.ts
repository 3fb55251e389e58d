import { statSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION, Store } from "./store.ts";

describe("Store", () => {
  it("migrates a new database, keeps documents across reopen, and is owner-only", async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "sim.db");
    const store = Store.open(path);
    store.setMeta("instance", { idScope: "0ne00000001" });
    store.addEvent("2026-01-01T00:00:00.000Z", "test.event", "x", { n: 1 });
    store.close();
    store.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const again = Store.open(path);
    expect(again.getMeta("instance")).toEqual({ idScope: "0ne00000001" });
    expect(again.listEvents()).toMatchObject([{ kind: "test.event", subject: "x", details: { n: 1 } }]);
    again.close();
    const raw = new Database(path);
    expect(raw.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    raw.close();
  });

  it("refuses a database written by a newer simulator", async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "sim.db");
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => Store.open(path)).toThrow(/newer than this simulator/);
  });
});
