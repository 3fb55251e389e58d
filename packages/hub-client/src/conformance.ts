import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { HubConnection, HubConnector, HubCredentials, MethodResult } from "./connection.ts";
import { isHubClientError } from "./errors.ts";

/** One behaviour check; run each with your test runner, e.g. `it(check.name, () => check.run())`. */
export interface ConformanceCase {
  name: string;
  run(): Promise<void>;
}

/** Telemetry as the hub under test stored it. */
export interface StoredTelemetry {
  body: string;
  messageId?: string | undefined;
  correlationId?: string | undefined;
  contentType?: string | undefined;
  contentEncoding?: string | undefined;
  properties: Readonly<Record<string, string>>;
}

/** What a {@link HubConnector} under test, and the hub it connects to, must provide to {@link hubClientConformance}. */
export interface HubClientHarness {
  connector: HubConnector;
  /** A device the hub accepts. */
  credentials: HubCredentials;
  /** The same device with credentials the hub refuses (a wrong key, an unknown certificate). */
  refusedCredentials: HubCredentials;
  /** Telemetry the hub stored for the device, oldest first. */
  telemetry(): Promise<StoredTelemetry[]>;
  /** The device twin's reported properties as the hub stores them (without `$version`/`$metadata`). */
  reported(): Promise<Record<string, unknown>>;
  /** Patches the device twin's desired properties from the service side. */
  pushDesired(patch: Record<string, unknown>): Promise<void>;
  /** Invokes a direct method from the service side, once the device listens for it. */
  invoke(name: string, payload: unknown): Promise<MethodResult>;
  /** Breaks the device's open connections from the network side (the hub stays up). */
  interrupt(): Promise<void>;
  /** Called after each case. */
  dispose?(): Promise<void>;
}

/** Waits (bounded, polling) until `probe` stops throwing; for effects that arrive asynchronously. */
async function eventually<T>(probe: () => T | Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function expectCode(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isHubClientError(error), `expected a HubClientError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

/** Keys and ids unique to one case, so cases can share one device on a real hub. */
const uniqueTag = (): string => `c${randomUUID().replaceAll("-", "").slice(0, 12)}`;

/**
 * The behaviour every {@link HubConnector} must show against its hub: telemetry with system and application
 * properties acknowledged before `send` resolves, twin reported and desired properties, direct methods, refused
 * credentials, aborts, a lost connection reported once and a new connection afterwards, and an idempotent close.
 */
export function hubClientConformance(factory: () => Promise<HubClientHarness>): ConformanceCase[] {
  const withHarness =
    (body: (harness: HubClientHarness, tag: string) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const harness = await factory();
      try {
        await body(harness, uniqueTag());
      } finally {
        await harness.dispose?.();
      }
    };

  /** Runs `body` with an open connection of the harness's device, closed afterwards. */
  const withConnection = (
    body: (connection: HubConnection, harness: HubClientHarness, tag: string) => Promise<void>,
  ): (() => Promise<void>) =>
    withHarness(async (harness, tag) => {
      const connection = await harness.connector.connect(harness.credentials);
      try {
        await body(connection, harness, tag);
      } finally {
        await connection.close();
      }
    });

  return [
    {
      name: "sends telemetry with its system and application properties, stored once send resolves",
      run: withConnection(async (connection, harness, tag) => {
        assert.equal(connection.deviceId, harness.credentials.deviceId);
        const body = JSON.stringify({ tag, color: "Red" });
        await connection.send({
          body,
          messageId: `${tag}-1`,
          correlationId: `${tag}-corr`,
          contentType: "application/json",
          contentEncoding: "utf-8",
          properties: { colorAlert: "detected", tag },
        });
        await connection.send({ body: new TextEncoder().encode(`${tag} bytes`), messageId: `${tag}-2` });
        const mine = (await harness.telemetry()).filter((message) =>
          message.messageId?.startsWith(`${tag}-`),
        );
        assert.deepEqual(
          mine.map((message) => message.messageId),
          [`${tag}-1`, `${tag}-2`],
        );
        const [first, second] = mine;
        assert.equal(first?.body, body);
        assert.equal(first?.correlationId, `${tag}-corr`);
        assert.equal(first?.contentType, "application/json");
        assert.equal(first?.contentEncoding, "utf-8");
        assert.equal(first?.properties.colorAlert, "detected");
        assert.equal(first?.properties.tag, tag);
        assert.equal(second?.body, `${tag} bytes`);
      }),
    },
    {
      name: "merges reported properties as a JSON merge patch (null removes a key)",
      run: withConnection(async (connection, harness, tag) => {
        await connection.reportTwin({ [tag]: { kept: 1, removed: 2 } });
        await connection.reportTwin({ [tag]: { removed: null, added: { nested: true } } });
        assert.deepEqual((await harness.reported())[tag], { kept: 1, added: { nested: true } });
      }),
    },
    {
      name: "delivers the current desired properties on subscribing, then each change",
      run: withConnection(async (connection, harness, tag) => {
        await harness.pushDesired({ [tag]: "before" });
        const seen: Record<string, unknown>[] = [];
        connection.onDesired((patch) => seen.push(patch));
        await eventually(() =>
          assert.ok(
            seen.some((patch) => patch[tag] === "before"),
            "current desired",
          ),
        );
        assert.ok(
          seen.every((patch) => Object.keys(patch).every((key) => !key.startsWith("$"))),
          "no $version or $metadata",
        );
        await harness.pushDesired({ [tag]: "after" });
        await eventually(() => assert.equal(seen.at(-1)?.[tag], "after"));
      }),
    },
    {
      name: "answers direct methods with the handler's status and payload, and 500 when the handler throws",
      run: withConnection(async (connection, harness, tag) => {
        connection.onMethod(`${tag}-echo`, async (payload) => ({
          status: 201,
          payload: { echo: payload },
        }));
        connection.onMethod(`${tag}-fail`, () => {
          throw new Error("handler failed");
        });
        assert.deepEqual(await harness.invoke(`${tag}-echo`, { n: 1 }), {
          status: 201,
          payload: { echo: { n: 1 } },
        });
        const failed = await harness.invoke(`${tag}-fail`, {});
        assert.equal(failed.status, 500);
        assert.match(JSON.stringify(failed.payload), /handler failed/);
      }),
    },
    {
      name: "rejects refused credentials with HUB_UNAUTHORIZED",
      run: withHarness(async (harness) => {
        await assert.rejects(
          harness.connector.connect(harness.refusedCredentials),
          expectCode("HUB_UNAUTHORIZED"),
        );
      }),
    },
    {
      name: "rejects with the signal's reason when aborted",
      run: withHarness(async (harness, tag) => {
        const reason = new Error(`${tag} aborted`);
        await assert.rejects(
          harness.connector.connect(harness.credentials, { signal: AbortSignal.abort(reason) }),
          (error) => error === reason,
        );
        const connection = await harness.connector.connect(harness.credentials);
        try {
          await assert.rejects(
            connection.send(
              { body: "x", messageId: `${tag}-aborted` },
              { signal: AbortSignal.abort(reason) },
            ),
            (error) => error === reason,
          );
          await assert.rejects(
            connection.reportTwin({ [tag]: 1 }, { signal: AbortSignal.abort(reason) }),
            (error) => error === reason,
          );
        } finally {
          await connection.close();
        }
      }),
    },
    {
      name: "reports a lost connection once with HUB_UNREACHABLE, and a new connection works",
      run: withHarness(async (harness, tag) => {
        const connection = await harness.connector.connect(harness.credentials);
        const lost: unknown[] = [];
        connection.onDisconnect((error) => lost.push(error));
        try {
          await connection.send({ body: "before", messageId: `${tag}-before` });
          await harness.interrupt();
          await eventually(() => assert.equal(lost.length, 1, "onDisconnect called"));
          expectCode("HUB_UNREACHABLE")(lost[0]);
          await assert.rejects(connection.send({ body: "lost", messageId: `${tag}-lost` }), (error) =>
            isHubClientError(error),
          );
          assert.equal(lost.length, 1, "onDisconnect called once");
        } finally {
          await connection.close();
        }
        const again = await harness.connector.connect(harness.credentials);
        try {
          await again.send({ body: "after", messageId: `${tag}-after` });
        } finally {
          await again.close();
        }
        const ids = (await harness.telemetry())
          .map((message) => message.messageId)
          .filter((id) => id?.startsWith(`${tag}-`));
        assert.deepEqual(ids, [`${tag}-before`, `${tag}-after`]);
      }),
    },
    {
      name: "close is idempotent, reports no disconnect, and later operations reject with HUB_CLOSED",
      run: withHarness(async (harness, tag) => {
        const connection = await harness.connector.connect(harness.credentials);
        const lost: unknown[] = [];
        connection.onDisconnect((error) => lost.push(error));
        await connection.close();
        await connection.close();
        await assert.rejects(
          connection.send({ body: "x", messageId: `${tag}-closed` }),
          expectCode("HUB_CLOSED"),
        );
        await assert.rejects(connection.reportTwin({ [tag]: 1 }), expectCode("HUB_CLOSED"));
        assert.deepEqual(lost, []);
      }),
    },
  ];
}
