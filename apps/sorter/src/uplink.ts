import { type Clock, delay, type Logger, mergePatch, noopLogger, systemClock } from "@skittlesorter/core";
import type { CredentialManager, HubRenewalRequest } from "./credentials.ts";
import { describeError, SorterError } from "./errors.ts";
import type { HubConnection, HubConnector, HubMessage } from "./hub.ts";
import type { Outbox, OutboxEntry } from "./outbox.ts";

export interface UplinkOptions {
  connector: HubConnector;
  credentials: Pick<CredentialManager, "current" | "renew" | "onRenewed">;
  outbox: Outbox;
  /** Called after every (re)connect: register direct methods and desired-property listeners here. */
  onConnected?: ((connection: HubConnection) => void | Promise<void>) | undefined;
  /** First reconnect delay; doubles (with jitter) up to `reconnectMaxMs`. Default 1 000. */
  reconnectInitialMs?: number | undefined;
  reconnectMaxMs?: number | undefined;
  clock?: Clock | undefined;
  random?: (() => number) | undefined;
  logger?: Logger | undefined;
}

export interface UplinkStats {
  connected: boolean;
  /** Messages acknowledged by the hub during this run. */
  delivered: number;
  /** Send attempts that failed (the message stayed in the outbox). */
  failedSends: number;
  /** Successful connects (the first, reconnects, certificate switches). */
  connects: number;
  /** Times the hub refused the certificate and the device provisioned again. */
  reprovisions: number;
}

/**
 * Moves telemetry from the durable outbox to IoT Hub, oldest first, one acknowledged message at a time (in order,
 * at least once). Keeps the connection up: reconnects with backoff after an outage, provisions again when the hub
 * refuses the certificate, and switches to a renewed certificate between two messages, so nothing is lost.
 */
export class Uplink {
  readonly #options: UplinkOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #stopController = new AbortController();
  #connection: HubConnection | undefined;
  #broken = false;
  #switchReason: string | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #backoffMs: number;
  #pendingTwin: Record<string, unknown> | undefined;
  #twinInFlight = false;
  #unsubscribe: (() => void)[] = [];
  #stats: UplinkStats = { connected: false, delivered: 0, failedSends: 0, connects: 0, reprovisions: 0 };
  #closing: Promise<void> | undefined;

  constructor(options: UplinkOptions) {
    this.#options = options;
    this.#logger = options.logger ?? noopLogger;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#backoffMs = options.reconnectInitialMs ?? 1000;
  }

  get stats(): UplinkStats {
    return { ...this.#stats, connected: this.#connection !== undefined && !this.#broken };
  }

  /**
   * Renews the certificate through the live hub connection (the credential manager's `HubRenewer`): `undefined` when there is no
   * live connection or its client cannot renew. The connection is kept; the uplink switches to the new certificate
   * between two messages once the credential manager stored it.
   */
  async renewCertificate(request: HubRenewalRequest): Promise<string | undefined> {
    const connection = this.#connection;
    if (connection?.renewCertificate === undefined || this.#broken || this.#stopping) return undefined;
    const renewed = await connection.renewCertificate(request.csr, { signal: request.signal });
    this.#logger.info("the hub issued a new certificate", {
      requestId: renewed.requestId,
      notAfter: renewed.notAfter.toISOString(),
    });
    return renewed.certificatePem;
  }

  /** Starts delivering in the background. */
  start(): void {
    if (this.#loop !== undefined) return;
    this.#unsubscribe.push(this.#options.outbox.onEnqueue(() => this.#notify()));
    this.#unsubscribe.push(
      this.#options.credentials.onRenewed((_credentials, reason) => {
        this.#switchReason = reason;
        this.#notify();
      }),
    );
    this.#loop = this.#run();
  }

  /** Queues reported properties (merged with any not yet sent); sent whenever connected. */
  reportTwin(patch: Record<string, unknown>): void {
    this.#pendingTwin = mergePatch(this.#pendingTwin ?? {}, patch);
    this.#notify();
  }

  /**
   * Waits until the outbox is empty and, while connected, queued reported properties were sent too (the final
   * counts at shutdown), or `timeoutMs` passed; resolves to the number of messages still pending.
   */
  async flush(options: { timeoutMs?: number | undefined } = {}): Promise<number> {
    const deadline = this.#clock.now() + (options.timeoutMs ?? 10_000);
    this.#notify();
    for (;;) {
      const pending = this.#options.outbox.size;
      const twinPending =
        (this.#pendingTwin !== undefined || this.#twinInFlight) &&
        this.#connection !== undefined &&
        !this.#broken;
      if ((pending === 0 && !twinPending) || this.#clock.now() >= deadline || this.#closing !== undefined)
        return pending;
      await delay(Math.min(25, Math.max(1, deadline - this.#clock.now())), { clock: this.#clock });
    }
  }

  /** Stops delivering and disconnects (undelivered messages stay in the outbox). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopController.abort(new SorterError("HUB_CLOSED", "The uplink was closed."));
      this.#notify();
      for (const unsubscribe of this.#unsubscribe) unsubscribe();
      await this.#loop?.catch(() => undefined);
      await this.#dropConnection();
    })();
    return this.#closing;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #waitForWork(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  get #stopping(): boolean {
    return this.#stopController.signal.aborted;
  }

  async #run(): Promise<void> {
    const signal = this.#stopController.signal;
    while (!this.#stopping) {
      try {
        if (this.#switchReason !== undefined && this.#connection !== undefined) {
          this.#logger.info("switching the hub connection to the new certificate", {
            reason: this.#switchReason,
          });
          this.#switchReason = undefined;
          await this.#dropConnection();
        }
        const connection = await this.#ensureConnection(signal);
        this.#sendTwin(connection);
        const [entry] = this.#options.outbox.peek(1);
        if (entry === undefined) {
          await this.#waitUnlessStateChanged();
          continue;
        }
        await connection.send(toHubMessage(entry), { signal });
        this.#options.outbox.ack(entry.id);
        this.#stats.delivered += 1;
        this.#backoffMs = this.#options.reconnectInitialMs ?? 1000;
      } catch (error) {
        if (this.#stopping) break;
        await this.#handleFailure(error, signal).catch(() => undefined);
      }
    }
  }

  async #waitUnlessStateChanged(): Promise<void> {
    const wait = this.#waitForWork();
    if (this.#stopping || this.#broken || this.#switchReason !== undefined || this.#options.outbox.size > 0) {
      this.#notify();
    }
    if (this.#pendingTwin !== undefined && !this.#twinInFlight) this.#notify();
    await wait;
  }

  async #ensureConnection(signal: AbortSignal): Promise<HubConnection> {
    if (this.#connection !== undefined && !this.#broken) return this.#connection;
    await this.#dropConnection();
    const credentials = this.#options.credentials.current;
    if (credentials === undefined) {
      throw new SorterError("HUB_CLOSED", "No device credentials yet; provision before starting the uplink.");
    }
    const connection = await this.#options.connector.connect(credentials, { signal });
    this.#broken = false;
    this.#connection = connection;
    this.#stats.connects += 1;
    connection.onDisconnect((error) => {
      if (this.#connection !== connection) return;
      this.#logger.warn("hub connection lost", { code: error.code, error: error.message });
      this.#broken = true;
      if (error.code === "HUB_UNAUTHORIZED") this.#switchReason = undefined;
      this.#lastDisconnect = error;
      this.#notify();
    });
    try {
      await this.#options.onConnected?.(connection);
    } catch (error) {
      this.#logger.warn("setting up the hub connection failed", { error: describeError(error) });
    }
    return connection;
  }

  #lastDisconnect: SorterError | undefined;

  #sendTwin(connection: HubConnection): void {
    const patch = this.#pendingTwin;
    if (patch === undefined || this.#twinInFlight) return;
    this.#pendingTwin = undefined;
    this.#twinInFlight = true;
    connection
      .reportTwin(patch, { signal: this.#stopController.signal })
      .catch((error: unknown) => {
        if (this.#stopping) return;
        this.#logger.warn("reporting twin properties failed; will retry on the next connection", {
          error: describeError(error),
        });
        this.#pendingTwin = mergePatch(patch, this.#pendingTwin ?? {});
      })
      .finally(() => {
        this.#twinInFlight = false;
        // A patch queued while this one was in flight waits for the loop: wake it.
        if (this.#pendingTwin !== undefined) this.#notify();
      });
  }

  async #handleFailure(error: unknown, signal: AbortSignal): Promise<void> {
    const failure =
      error instanceof SorterError
        ? error
        : (this.#lastDisconnect ??
          new SorterError("HUB_UNREACHABLE", describeError(error), { cause: error }));
    this.#lastDisconnect = undefined;
    if (this.#connection !== undefined) this.#stats.failedSends += 1;
    this.#broken = true;
    await this.#dropConnection();
    if (failure.code === "HUB_UNAUTHORIZED") {
      this.#logger.warn("the hub refused the certificate; provisioning again", { error: failure.message });
      try {
        await this.#options.credentials.renew("the hub refused the certificate", { signal });
        this.#stats.reprovisions += 1;
        this.#switchReason = undefined;
        return;
      } catch (renewError) {
        if (this.#stopping) return;
        this.#logger.warn("provisioning again failed", { error: describeError(renewError) });
      }
    } else {
      this.#logger.warn("hub unavailable; telemetry stays in the outbox", {
        code: failure.code,
        error: failure.message,
        retryInMs: Math.round(this.#backoffMs),
      });
    }
    const wait = this.#backoffMs / 2 + (this.#random() * this.#backoffMs) / 2;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.reconnectMaxMs ?? 60_000);
    await delay(wait, { clock: this.#clock, signal });
  }

  async #dropConnection(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#broken = false;
    if (connection !== undefined) await connection.close().catch(() => undefined);
  }
}

export function toHubMessage(entry: OutboxEntry): HubMessage {
  return {
    messageId: String(entry.messageId),
    body: entry.body,
    contentType: entry.contentType,
    contentEncoding: entry.contentEncoding,
    properties: entry.properties,
  };
}
