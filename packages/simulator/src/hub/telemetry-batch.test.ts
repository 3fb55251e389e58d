import { describe, expect, it } from "vitest";
import type { StoredTelemetry } from "../state/model.ts";
import { IN_MEMORY, Store } from "../state/store.ts";
import { TelemetryBatch } from "./telemetry-batch.ts";

const message = (deviceId: string, seq: number): Omit<StoredTelemetry, "id"> => ({
  hub: "hub-1",
  deviceId,
  enqueuedAt: 1_000 + seq,
  systemProperties: { messageId: `${deviceId}-${seq}` },
  properties: {},
  body: Buffer.from(JSON.stringify({ seq })),
});

function counted(store: Store): { transactions: () => number } {
  let count = 0;
  const transaction = store.transaction.bind(store);
  store.transaction = <T>(fn: () => T): T => {
    count += 1;
    return transaction(fn);
  };
  return { transactions: () => count };
}

describe("TelemetryBatch", () => {
  it("commits the messages of one event-loop turn in one transaction, and settles each only once stored", async () => {
    const store = Store.open(IN_MEMORY);
    const { transactions } = counted(store);
    const stored: number[] = [];
    const batch = new TelemetryBatch({ store, maxMessages: 100, stored: (m) => stored.push(m.id) });
    const storedWhenSettled: number[] = [];
    const adds = ["a", "b", "c"].map((deviceId, seq) =>
      batch.add(message(deviceId, seq)).then((id) => {
        storedWhenSettled.push(store.listTelemetry({}).filter((row) => row.id === id).length);
        return id;
      }),
    );
    expect(store.listTelemetry()).toEqual([]); // nothing written in the turn the messages arrived
    const ids = await Promise.all(adds);
    expect(transactions()).toBe(1);
    expect(storedWhenSettled).toEqual([1, 1, 1]);
    expect(stored).toEqual(ids);
    expect(store.listTelemetry().map((row) => row.deviceId)).toEqual(["a", "b", "c"]);

    await batch.add(message("d", 3)); // a later turn: its own transaction
    expect(transactions()).toBe(2);
    store.close();
  });

  it("stores what is pending at once on flush (shutdown)", async () => {
    const store = Store.open(IN_MEMORY);
    const batch = new TelemetryBatch({ store, maxMessages: 100, stored: () => {} });
    const pending = batch.add(message("a", 0));
    batch.flush();
    expect(store.listTelemetry()).toHaveLength(1);
    await expect(pending).resolves.toBeTypeOf("number");
    store.close();
  });

  it("rejects every message of a batch whose transaction fails", async () => {
    const store = Store.open(IN_MEMORY);
    const batch = new TelemetryBatch({ store, maxMessages: 100, stored: () => {} });
    const adds = [batch.add(message("a", 0)), batch.add(message("b", 1))];
    store.close();
    for (const add of adds) await expect(add).rejects.toThrow();
  });

  it("prunes to the newest maxMessages", async () => {
    const store = Store.open(IN_MEMORY);
    const batch = new TelemetryBatch({ store, maxMessages: 10, stored: () => {} });
    await Promise.all(Array.from({ length: 500 }, (_, seq) => batch.add(message("a", seq))));
    expect(store.listTelemetry({ limit: 1000 })).toHaveLength(10);
    store.close();
  });
});
