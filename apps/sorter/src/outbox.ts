import { dirname } from "node:path";
import { type Clock, systemClock } from "@skittlesorter/core";
import Database from "better-sqlite3";
import { describeError, SorterError } from "./errors.ts";
import { ensurePrivateDatabaseFile, ensurePrivateDirectory } from "./private-files.ts";

/** A telemetry message as stored: the body is sent as is, the properties become IoT Hub application properties. */
export interface OutboxMessage {
  body: string;
  properties: Record<string, string>;
  contentType: string;
  contentEncoding: string;
}

export interface OutboxEntry extends OutboxMessage {
  /** Position in the outbox; delivery order. */
  id: number;
  /** Sequential across restarts (the message's `messageId`). */
  messageId: number;
  createdAtMs: number;
}

export type OutboxFullPolicy = "drop-oldest" | "reject-new";

export interface OutboxOptions {
  /** At most this many undelivered messages are kept. Default 10 000. */
  maxMessages?: number | undefined;
  /** When full: drop the oldest undelivered message (default) or refuse the new one. */
  whenFull?: OutboxFullPolicy | undefined;
  clock?: Clock | undefined;
}

export interface EnqueueResult {
  /** False when the outbox was full and the policy is `reject-new`. */
  accepted: boolean;
  messageId: number;
  /** Messages dropped to make room (drop-oldest). */
  dropped: number;
}

export interface OutboxStats {
  pending: number;
  enqueued: number;
  delivered: number;
  /** Dropped (drop-oldest) or refused (reject-new) because the outbox was full, over its whole life. */
  dropped: number;
}

/**
 * A durable FIFO of telemetry in SQLite (better-sqlite3, WAL, synchronous=FULL): what is enqueued survives a crash,
 * a restart and any hub outage; messages leave only when acknowledged, so delivery is in order and at least once.
 * The size is bounded; {@link OutboxOptions.whenFull} says what happens when it is full.
 */
export class Outbox {
  readonly file: string;
  readonly maxMessages: number;
  readonly whenFull: OutboxFullPolicy;
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #listeners = new Set<() => void>();
  #closed = false;

  private constructor(file: string, db: Database.Database, options: OutboxOptions) {
    this.file = file;
    this.#db = db;
    this.maxMessages = options.maxMessages ?? 10_000;
    this.whenFull = options.whenFull ?? "drop-oldest";
    this.#clock = options.clock ?? systemClock;
  }

  /** Opens (creating) the outbox database at `file`; its directory is made 0700 and its files 0600. */
  static open(file: string, options: OutboxOptions = {}): Outbox {
    try {
      ensurePrivateDirectory(dirname(file));
      ensurePrivateDatabaseFile(file);
      const db = new Database(file);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.exec(`
        CREATE TABLE IF NOT EXISTS messages (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          message_id INTEGER NOT NULL,
          body TEXT NOT NULL,
          properties TEXT NOT NULL,
          content_type TEXT NOT NULL,
          content_encoding TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT OR IGNORE INTO counters (name, value) VALUES ('next_message_id', 1), ('enqueued', 0), ('delivered', 0), ('dropped', 0);
      `);
      return new Outbox(file, db, options);
    } catch (error) {
      throw new SorterError(
        "OUTBOX_FAILED",
        `Cannot open the telemetry outbox ${file} (${describeError(error)}). Check that the data directory is writable ` +
          "and not on a full disk; delete the file only if you accept losing undelivered telemetry.",
        { cause: error },
      );
    }
  }

  #check(): void {
    if (this.#closed) throw new SorterError("OUTBOX_FAILED", "The outbox was closed; open it again.");
  }

  #counter(name: string): number {
    const row = this.#db.prepare("SELECT value FROM counters WHERE name = ?").get(name) as
      | { value: number }
      | undefined;
    return row?.value ?? 0;
  }

  #add(name: string, delta: number): void {
    this.#db.prepare("UPDATE counters SET value = value + ? WHERE name = ?").run(delta, name);
  }

  /** Adds a message; `build` receives its sequential message id. Durable when this returns. */
  enqueue(build: (messageId: number) => OutboxMessage): EnqueueResult {
    this.#check();
    const result = this.#db.transaction((): EnqueueResult => {
      const messageId = this.#counter("next_message_id");
      const pending = this.size;
      if (pending >= this.maxMessages && this.whenFull === "reject-new") {
        this.#add("dropped", 1);
        return { accepted: false, messageId, dropped: 0 };
      }
      const message = build(messageId);
      this.#db
        .prepare(
          "INSERT INTO messages (message_id, body, properties, content_type, content_encoding, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .run(
          messageId,
          message.body,
          JSON.stringify(message.properties),
          message.contentType,
          message.contentEncoding,
          this.#clock.now(),
        );
      this.#add("next_message_id", 1);
      this.#add("enqueued", 1);
      let dropped = 0;
      const excess = pending + 1 - this.maxMessages;
      if (excess > 0) {
        dropped = this.#db
          .prepare("DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)")
          .run(excess).changes;
        this.#add("dropped", dropped);
      }
      return { accepted: true, messageId, dropped };
    })();
    if (result.accepted) for (const listener of this.#listeners) listener();
    return result;
  }

  /** The oldest undelivered messages, in order. */
  peek(limit = 1): OutboxEntry[] {
    this.#check();
    const rows = this.#db
      .prepare(
        "SELECT id, message_id, body, properties, content_type, content_encoding, created_at FROM messages ORDER BY id LIMIT ?",
      )
      .all(limit) as {
      id: number;
      message_id: number;
      body: string;
      properties: string;
      content_type: string;
      content_encoding: string;
      created_at: number;
    }[];
    return rows.map((row) => ({
      id: row.id,
      messageId: row.message_id,
      body: row.body,
      properties: JSON.parse(row.properties) as Record<string, string>,
      contentType: row.content_type,
      contentEncoding: row.content_encoding,
      createdAtMs: row.created_at,
    }));
  }

  /** Removes a delivered message. Acknowledging an id twice (or one that was dropped) does nothing. */
  ack(id: number): void {
    this.#check();
    this.#db.transaction(() => {
      const { changes } = this.#db.prepare("DELETE FROM messages WHERE id = ?").run(id);
      if (changes > 0) this.#add("delivered", changes);
    })();
  }

  get size(): number {
    this.#check();
    return (this.#db.prepare("SELECT COUNT(*) AS n FROM messages").get() as { n: number }).n;
  }

  stats(): OutboxStats {
    this.#check();
    return {
      pending: this.size,
      enqueued: this.#counter("enqueued"),
      delivered: this.#counter("delivered"),
      dropped: this.#counter("dropped"),
    };
  }

  /** Calls `listener` after each accepted message. Returns an unsubscribe function. */
  onEnqueue(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#db.close();
  }
}
