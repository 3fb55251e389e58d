import { statSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
import { IN_MEMORY, Store } from "./store.ts";

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

  it("drops the telemetry colour column of older databases and keeps their messages", async () => {
    await using dir = await tempDir();
    const path = join(dir.path, "sim.db");
    const raw = new Database(path);
    for (const [version, sql] of MIGRATIONS.slice(0, 2).entries()) {
      raw.exec(sql);
      raw.pragma(`user_version = ${version + 1}`);
    }
    raw
      .prepare(
        "INSERT INTO telemetry (hub, device_id, enqueued_at, color, doc, body) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(
        "hub",
        "dev-1",
        1,
        "Red",
        JSON.stringify({ systemProperties: {}, properties: {} }),
        Buffer.from("{}"),
      );
    raw.close();

    const store = Store.open(path);
    expect(store.listTelemetry()).toMatchObject([{ deviceId: "dev-1", body: Buffer.from("{}") }]);
    expect(store.listTelemetry()[0]).not.toHaveProperty("color");
    store.close();
    const after = new Database(path);
    const columns = after.pragma("table_info(telemetry)") as { name: string }[];
    expect(columns.map((column) => column.name)).not.toContain("color");
    after.close();
  });

  it("runs each transaction as a whole: committed together, rolled back on a throw, nested ones as savepoints", () => {
    const store = Store.open(IN_MEMORY);
    const answer = store.transaction(() => {
      store.setMeta("a", 1);
      store.setMeta("b", 2);
      return "done";
    });
    expect(answer).toBe("done");
    expect(() =>
      store.transaction(() => {
        store.setMeta("a", 10);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    store.transaction(() => {
      store.setMeta("b", 20);
      expect(() =>
        store.transaction(() => {
          store.setMeta("c", 30);
          throw new Error("inner");
        }),
      ).toThrow("inner");
    });
    expect([store.getMeta("a"), store.getMeta("b"), store.getMeta("c")]).toEqual([1, 20, undefined]);
    store.close();
  });

  it("opens an in-memory database, migrated like a file", () => {
    const store = Store.open(IN_MEMORY);
    store.setMeta("k", 1);
    expect(store.getMeta("k")).toBe(1);
    store.close();
  });
});
