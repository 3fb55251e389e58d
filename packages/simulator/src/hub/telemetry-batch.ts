// Device-to-cloud messages are written in one SQLite transaction per event-loop turn instead of one each: a commit
// costs far more than an insert. Each message's promise settles only after its transaction commits, and the MQTT
// front end sends the PUBACK only then, so every acknowledged message is stored.
import type { StoredTelemetry } from "../state/model.ts";
import type { Store } from "../state/store.ts";

interface Pending {
  message: Omit<StoredTelemetry, "id">;
  resolve(id: number): void;
  reject(error: unknown): void;
}

export interface TelemetryBatchOptions {
  store: Store;
  /** Oldest messages beyond this many are pruned (checked every {@link PRUNE_EVERY} inserts). */
  maxMessages: number;
  /** Called for each message once it is committed, in arrival order. */
  stored(message: StoredTelemetry): void;
}

const PRUNE_EVERY = 500;

export class TelemetryBatch {
  readonly #options: TelemetryBatchOptions;
  #pending: Pending[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  #insertsSincePrune = 0;

  constructor(options: TelemetryBatchOptions) {
    this.#options = options;
  }

  /** Resolves to the message's id once it is committed (in this event-loop turn's transaction). */
  add(message: Omit<StoredTelemetry, "id">): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#pending.push({ message, resolve, reject });
      this.#scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Commits what is pending now (also on shutdown, before the store closes). */
  flush(): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    const { store, maxMessages, stored } = this.#options;
    let ids: number[];
    try {
      ids = store.transaction(() => batch.map((entry) => store.addTelemetry(entry.message)));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => {
      const id = ids[index] as number;
      entry.resolve(id);
      stored({ ...entry.message, id });
    });
    this.#insertsSincePrune += batch.length;
    if (this.#insertsSincePrune >= PRUNE_EVERY) {
      this.#insertsSincePrune = 0;
      store.pruneTelemetry(maxMessages);
    }
  }
}
