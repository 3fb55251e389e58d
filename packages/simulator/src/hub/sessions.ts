// Persistent MQTT sessions of the IoT Hub endpoint. The Node device SDK always connects with `clean: false` and does
// not subscribe to the twin topics again after a reconnect: it relies on the hub keeping its session, across hub
// restarts too. So the subscriptions of every persistent session are kept in the simulator's database.
import { Readable } from "node:stream";
import * as aedesPersistence from "aedes-persistence";
import type { Store } from "../state/store.ts";

export interface StoredSubscription {
  topic: string;
  qos: 0 | 1;
}

interface SessionDoc {
  clientId: string;
  subscriptions: StoredSubscription[];
}

/** The subscriptions of persistent (`clean: false`) sessions, by MQTT client id. */
export class HubSessions {
  readonly #store: Store;
  /** Drops a client's subscriptions from the running broker (set by {@link hubPersistence}). */
  #dropLive: (clientId: string) => void = () => {};

  constructor(store: Store) {
    this.#store = store;
  }

  /** Forgets the session of an identity that was deleted, in the database and in the running broker. */
  forget(clientId: string): void {
    this.clear(clientId);
    this.#dropLive(clientId);
  }

  /** Called once by the broker's persistence: how to drop a client's subscriptions from the running broker. */
  onForget(dropLive: (clientId: string) => void): void {
    this.#dropLive = dropLive;
  }

  list(): SessionDoc[] {
    const rows = this.#store.prepare("SELECT doc FROM hub_sessions ORDER BY client_id").all() as {
      doc: string;
    }[];
    return rows.map((row) => JSON.parse(row.doc) as SessionDoc);
  }

  subscriptions(clientId: string): StoredSubscription[] {
    const row = this.#store.prepare("SELECT doc FROM hub_sessions WHERE client_id = ?").get(clientId) as
      | { doc: string }
      | undefined;
    return row === undefined ? [] : (JSON.parse(row.doc) as SessionDoc).subscriptions;
  }

  add(clientId: string, added: readonly StoredSubscription[]): void {
    const byTopic = new Map(this.subscriptions(clientId).map((sub) => [sub.topic, sub]));
    for (const sub of added) byTopic.set(sub.topic, { topic: sub.topic, qos: sub.qos });
    this.#put(clientId, [...byTopic.values()]);
  }

  remove(clientId: string, topics: readonly string[]): void {
    const kept = this.subscriptions(clientId).filter((sub) => !topics.includes(sub.topic));
    if (kept.length === 0) this.clear(clientId);
    else this.#put(clientId, kept);
  }

  /** Forgets a session (a `clean: true` connect, or the identity was deleted). */
  clear(clientId: string): void {
    this.#store.prepare("DELETE FROM hub_sessions WHERE client_id = ?").run(clientId);
  }

  #put(clientId: string, subscriptions: StoredSubscription[]): void {
    const doc: SessionDoc = { clientId, subscriptions };
    this.#store
      .prepare(
        "INSERT INTO hub_sessions (client_id, doc) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET doc = excluded.doc",
      )
      .run(clientId, JSON.stringify(doc));
  }
}

interface ClientRef {
  id: string;
}
type Subscriptions = { topic: string; qos: number }[];

/**
 * aedes persistence for the hub: aedes' in-memory persistence, with the subscriptions of persistent sessions
 * mirrored to {@link HubSessions} and loaded back at start (so CONNACK says sessionPresent and aedes restores them).
 *
 * Queued QoS 1 packets are not kept here: the only QoS 1 traffic to devices is cloud-to-device messages, whose
 * queue (and redelivery after a reconnect) is the hub's own durable C2D queue. `onPuback` reports every PUBACK.
 */
export function hubPersistence(
  sessions: HubSessions,
  onPuback: (client: object, messageId: number) => void,
): unknown {
  // CommonJS: at run time the default export is the factory itself (its typings describe an ES module).
  const inner = (aedesPersistence.default as unknown as () => object)();
  const persistence = Object.create(inner) as Record<string, unknown>;
  // Without this, a device deleted and created again would find its old subscriptions (sessionPresent = 1).
  sessions.onForget((clientId) => {
    void callInner(inner, "cleanSubscriptions", { id: clientId });
  });
  const overrides = {
    async setup(broker: unknown): Promise<void> {
      await callInner(inner, "setup", broker);
      for (const session of sessions.list()) {
        await callInner(inner, "addSubscriptions", { id: session.clientId }, session.subscriptions);
      }
    },
    async addSubscriptions(client: ClientRef, subs: Subscriptions): Promise<void> {
      await callInner(inner, "addSubscriptions", client, subs);
      sessions.add(
        client.id,
        subs.map((sub) => ({ topic: sub.topic, qos: sub.qos === 0 ? 0 : 1 })),
      );
    },
    async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
      await callInner(inner, "removeSubscriptions", client, topics);
      sessions.remove(client.id, topics);
    },
    async cleanSubscriptions(client: ClientRef): Promise<void> {
      await callInner(inner, "cleanSubscriptions", client);
      sessions.clear(client.id);
    },
    async outgoingEnqueue(): Promise<void> {},
    async outgoingEnqueueCombi(): Promise<void> {},
    async outgoingUpdate(): Promise<void> {},
    async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<undefined> {
      if (packet.messageId !== undefined) onPuback(client, packet.messageId);
      return undefined;
    },
    outgoingStream: () => Readable.from([]),
  };
  return Object.assign(persistence, overrides);
}

function callInner(inner: object, method: string, ...args: unknown[]): Promise<unknown> {
  return (inner as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]?.(
    ...args,
  ) as Promise<unknown>;
}
