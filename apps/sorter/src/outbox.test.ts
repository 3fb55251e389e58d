import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { Outbox } from "./outbox.ts";

const message = (n: number) => ({
  body: JSON.stringify({ n }),
  properties: { colorAlert: "detected" },
  contentType: "application/json",
  contentEncoding: "utf-8",
});

describe("Outbox", () => {
  it("keeps messages in order across a reopen until they are acknowledged", async () => {
    await using dir = await tempDir("sorter-outbox-");
    const file = join(dir.path, "outbox.sqlite");
    const first = Outbox.open(file);
    for (let n = 0; n < 5; n += 1) first.enqueue(() => message(n));
    const [head] = first.peek(1);
    if (head === undefined) throw new Error("empty");
    first.ack(head.id);
    first.ack(head.id); // twice is harmless
    first.close();

    const second = Outbox.open(file);
    const entries = second.peek(10);
    expect(entries.map((e) => JSON.parse(e.body).n)).toEqual([1, 2, 3, 4]);
    expect(entries[0]?.properties).toEqual({ colorAlert: "detected" });
    const { messageId } = second.enqueue((id) => message(id));
    expect(messageId).toBe(6); // sequential across restarts
    expect(second.stats()).toEqual({ pending: 5, enqueued: 6, delivered: 1, dropped: 0 });
    second.close();
    second.close();
  });

  it("drops the oldest when full (default) or refuses new messages", async () => {
    await using dir = await tempDir("sorter-outbox-");
    const dropOldest = Outbox.open(join(dir.path, "a.sqlite"), { maxMessages: 3 });
    for (let n = 0; n < 5; n += 1) dropOldest.enqueue(() => message(n));
    expect(dropOldest.peek(10).map((e) => JSON.parse(e.body).n)).toEqual([2, 3, 4]);
    expect(dropOldest.stats().dropped).toBe(2);
    dropOldest.close();

    const rejectNew = Outbox.open(join(dir.path, "b.sqlite"), { maxMessages: 3, whenFull: "reject-new" });
    const results = [0, 1, 2, 3].map((n) => rejectNew.enqueue(() => message(n)));
    expect(results.map((r) => r.accepted)).toEqual([true, true, true, false]);
    expect(rejectNew.peek(10).map((e) => JSON.parse(e.body).n)).toEqual([0, 1, 2]);
    expect(rejectNew.stats().dropped).toBe(1);
    rejectNew.close();
  });

  it("says how to fix an unusable location", async () => {
    await using dir = await tempDir("sorter-outbox-");
    const notADirectory = join(dir.path, "file");
    await writeFile(notADirectory, "x");
    expect(() => Outbox.open(join(notADirectory, "outbox.sqlite"))).toThrow(/data directory is writable/);
  });
});
