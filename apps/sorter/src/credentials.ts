import type { KeyObject } from "node:crypto";
import {
  type Clock,
  delay,
  type Logger,
  noopLogger,
  type OperationOptions,
  systemClock,
} from "@skittlesorter/core";
import {
  assertKeyMatchesCertificate,
  certificateFacts,
  createCsr,
  generateKeyPair,
  type KeyPair,
  type KeyType,
  privateKeyToPem,
  splitPemBundle,
} from "@skittlesorter/csr";
import {
  type CertificateSummary,
  type CredentialStore,
  type DeviceCredentials,
  summarizeCertificate,
} from "./credential-store.ts";
import { describeError, isSorterError, SorterError } from "./errors.ts";

// Re-exported so that importers keep getting every credential name from this module.
export {
  type CertificateSummary,
  type CredentialPaths,
  CredentialStore,
  type DeviceCredentials,
  type LoadResult,
} from "./credential-store.ts";

export interface ProvisionRequest extends OperationOptions {
  registrationId: string;
  /** The CSR as DPS wants it (base64 DER) and its key pair's public key. */
  csr: { wire: string; publicKey: KeyObject };
}

export interface ProvisionedIdentity {
  deviceId: string;
  assignedHub: string;
  /** The issued chain, one PEM per certificate, leaf first. */
  chainPems: readonly string[];
}

/** Registers with DPS (or anything else that issues a certificate for a CSR). */
export type Provisioner = (request: ProvisionRequest) => Promise<ProvisionedIdentity>;

export interface HubRenewalRequest extends OperationOptions {
  /** The CSR as the hub wants it (base64 DER, CN = device id) and its key pair's public key. */
  csr: { wire: string; publicKey: KeyObject };
}

/**
 * Renews the certificate through the device's live IoT Hub connection (Azure certificate management). Resolves to
 * the issued chain (PEM, leaf first), or `undefined` when it cannot right now (not connected, or a client without
 * the capability). Rejects with `HUB_RENEWAL_REFUSED` when the hub refused; other errors are worth a retry.
 */
export type HubRenewer = (request: HubRenewalRequest) => Promise<string | undefined>;

/**
 * When renewal is due: `renewalWindowMs` before expiry; for a certificate whose whole lifetime fits in the window,
 * at half its lifetime instead (otherwise every fresh certificate would be due at once).
 */
export function effectiveRenewalDueMs(certificate: CertificateSummary, renewalWindowMs: number): number {
  const notBefore = certificate.notBefore.getTime();
  const notAfter = certificate.notAfter.getTime();
  const due = notAfter - renewalWindowMs;
  return due > notBefore ? due : notBefore + (notAfter - notBefore) / 2;
}

export interface CredentialManagerOptions {
  store: CredentialStore;
  provisioner: Provisioner;
  /**
   * Renewal through IoT Hub (`IoTHub.Client: "hub-mqtt"`): background renewals try it first and provision through
   * DPS only when the hub refuses or cannot. Without it every renewal provisions through DPS.
   */
  hubRenewer?: HubRenewer | undefined;
  registrationId: string;
  keyType?: KeyType | undefined;
  /** Renew this long before expiry. Default 7 days. */
  renewalWindowMs?: number | undefined;
  /** First retry after a failed renewal; doubles up to `retryMaxMs`. Default 60 s. */
  retryInitialMs?: number | undefined;
  retryMaxMs?: number | undefined;
  /** Never provision twice within this interval (a hub refusing every certificate must not hammer DPS). Default 30 s. */
  minProvisionIntervalMs?: number | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
}

/** How a certificate was obtained: provisioned through DPS, or renewed through IoT Hub. */
export type CertificateSource = "dps" | "hub";

export interface EnsureResult {
  credentials: DeviceCredentials;
  source: "stored" | "provisioned";
  /** Why it provisioned (or why the stored certificate was fine). */
  reason: string;
}

interface ManagerSettings {
  registrationId: string;
  keyType: KeyType;
  renewalWindowMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  minProvisionIntervalMs: number;
  clock: Clock;
  logger: Logger;
}

type RenewedListener = (credentials: DeviceCredentials, reason: string, via: CertificateSource) => void;

/** A certificate just issued for a CSR, before it is checked and stored. */
interface Issued {
  deviceId: string;
  assignedHub: string;
  /** One PEM per certificate, leaf first. */
  chainPems: readonly string[];
  csrPem: string;
  via: CertificateSource;
}

const DAY_MS = 24 * 3600 * 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Owns the device's operational credentials: reuses the stored certificate while it is valid and outside the
 * renewal window, otherwise provisions with a fresh key and CSR; renews in the background before expiry (again with
 * a new key), and provisions again on demand (the hub refused the certificate). Listeners hear of every new one.
 */
export class CredentialManager {
  readonly #options: ManagerSettings;
  readonly #store: CredentialStore;
  readonly #provisioner: Provisioner;
  readonly #hubRenewer: HubRenewer | undefined;
  readonly #listeners = new Set<RenewedListener>();
  #current: DeviceCredentials | undefined;
  #inFlight: Promise<DeviceCredentials> | undefined;
  #lastProvisionMs = Number.NEGATIVE_INFINITY;
  #timer: unknown;
  #retryMs: number;
  #closed = false;
  #renewalStarted = false;
  #renewals = 0;
  #hubRenewals = 0;
  #backgroundAbort = new AbortController();

  constructor(options: CredentialManagerOptions) {
    this.#store = options.store;
    this.#provisioner = options.provisioner;
    this.#hubRenewer = options.hubRenewer;
    this.#options = {
      registrationId: options.registrationId,
      keyType: options.keyType ?? "ec-p384",
      renewalWindowMs: options.renewalWindowMs ?? 7 * DAY_MS,
      retryInitialMs: options.retryInitialMs ?? 60_000,
      retryMaxMs: options.retryMaxMs ?? 3_600_000,
      minProvisionIntervalMs: options.minProvisionIntervalMs ?? 30_000,
      clock: options.clock ?? systemClock,
      logger: options.logger ?? noopLogger,
    };
    this.#retryMs = this.#options.retryInitialMs;
  }

  /** The credentials in use, once {@link ensure} has run. */
  get current(): DeviceCredentials | undefined {
    return this.#current;
  }

  /** How many certificates this manager obtained (first provisioning, renewals, re-provisioning). */
  get provisionCount(): number {
    return this.#renewals;
  }

  /** How many of them were renewals through IoT Hub (the rest came from DPS). */
  get hubRenewalCount(): number {
    return this.#hubRenewals;
  }

  /** When the current certificate becomes due for renewal (ms since the epoch). */
  get renewalDueMs(): number | undefined {
    return this.#current === undefined
      ? undefined
      : effectiveRenewalDueMs(this.#current.certificate, this.#options.renewalWindowMs);
  }

  /** Calls `listener` with each new certificate obtained after {@link ensure}. Returns an unsubscribe function. */
  onRenewed(listener: RenewedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Loads the stored certificate, or provisions when there is none usable. */
  async ensure(options: OperationOptions = {}): Promise<EnsureResult> {
    const { signal } = options;
    const { logger, clock, registrationId } = this.#options;
    const loaded = await this.#store.load({ signal });
    let reason: string;
    if (loaded.credentials === undefined) {
      reason = loaded.problem;
    } else {
      const stored = loaded.credentials;
      const now = clock.now();
      if (stored.registrationId !== registrationId) {
        reason = `the stored certificate belongs to registration id "${stored.registrationId}", not "${registrationId}"`;
      } else if (now >= stored.certificate.notAfter.getTime()) {
        reason = `the stored certificate expired at ${stored.certificate.notAfter.toISOString()}`;
      } else if (now >= effectiveRenewalDueMs(stored.certificate, this.#options.renewalWindowMs)) {
        reason = `the stored certificate expires at ${stored.certificate.notAfter.toISOString()}, inside the renewal window`;
      } else {
        this.#current = stored;
        logger.info("reusing the stored certificate", {
          deviceId: stored.deviceId,
          assignedHub: stored.assignedHub,
          subject: stored.certificate.subject,
          notAfter: stored.certificate.notAfter.toISOString(),
        });
        return {
          credentials: stored,
          source: "stored",
          reason: "the stored certificate is valid and outside the renewal window",
        };
      }
    }
    logger.info("provisioning a new certificate", { reason });
    const credentials = await this.#provisionOnce(reason, signal, { notify: false, throughHub: false });
    return { credentials, source: "provisioned", reason };
  }

  /**
   * Gets a new certificate with a new key now (renewal, or the hub refused the current one). Concurrent calls share
   * one provisioning. Listeners are told on success. With `throughHub` (and a `hubRenewer`) the hub is asked
   * first, as background renewals do; by default it provisions through DPS.
   */
  renew(
    reason: string,
    options: OperationOptions & { throughHub?: boolean | undefined } = {},
  ): Promise<DeviceCredentials> {
    return this.#provisionOnce(reason, options.signal, {
      notify: true,
      throughHub: options.throughHub ?? false,
    });
  }

  /** Starts the background renewal timer (call after {@link ensure}). */
  startRenewal(): void {
    this.#renewalStarted = true;
    this.#schedule();
  }

  /** Stops the background renewal (an ongoing provisioning is aborted). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#backgroundAbort.abort(new SorterError("HUB_CLOSED", "The credential manager was closed."));
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #provisionOnce(
    reason: string,
    signal: AbortSignal | undefined,
    how: { notify: boolean; throughHub: boolean },
  ): Promise<DeviceCredentials> {
    if (this.#inFlight === undefined) {
      const run = this.#provision(reason, signal, how.throughHub).then(({ credentials, via }) => {
        if (how.notify) {
          for (const listener of this.#listeners) listener(credentials, reason, via);
        }
        return credentials;
      });
      this.#inFlight = run.finally(() => {
        this.#inFlight = undefined;
      });
    }
    return this.#inFlight;
  }

  async #provision(
    reason: string,
    signal: AbortSignal | undefined,
    throughHub: boolean,
  ): Promise<{ credentials: DeviceCredentials; via: CertificateSource }> {
    const { clock, logger, registrationId, keyType } = this.#options;
    const keyPair = await generateKeyPair(keyType, { signal });
    const identity =
      (throughHub ? await this.#renewThroughHub(keyPair, signal) : undefined) ??
      (await this.#provisionThroughDps(keyPair, signal));
    const [leafPem] = identity.chainPems;
    if (leafPem === undefined) {
      throw new SorterError(
        "CREDENTIALS_INVALID",
        "Provisioning returned no certificate chain. Link the DPS enrollment to an ADR credential policy so that DPS issues certificates.",
      );
    }
    try {
      assertKeyMatchesCertificate(keyPair.privateKey, leafPem);
    } catch (error) {
      throw new SorterError(
        "CREDENTIALS_INVALID",
        "The issued certificate does not carry the key of the CSR that was sent; it was not stored. Provision again.",
        { cause: error },
      );
    }
    const facts = certificateFacts(leafPem);
    const credentials: DeviceCredentials = {
      registrationId,
      deviceId: identity.deviceId,
      assignedHub: identity.assignedHub,
      keyType,
      privateKeyPem: privateKeyToPem(keyPair.privateKey),
      chainPem: identity.chainPems.map((pem) => (pem.endsWith("\n") ? pem : `${pem}\n`)).join(""),
      certificate: summarizeCertificate(facts),
      obtainedAtMs: clock.now(),
    };
    await this.#store.save(credentials, identity.csrPem, { signal });
    this.#current = credentials;
    this.#renewals += 1;
    if (identity.via === "hub") this.#hubRenewals += 1;
    logger.info(
      identity.via === "hub" ? "renewed the certificate through IoT Hub" : "obtained a new certificate",
      {
        reason,
        deviceId: credentials.deviceId,
        assignedHub: credentials.assignedHub,
        subject: facts.subject,
        notAfter: facts.notAfter.toISOString(),
        sha256Thumbprint: facts.sha256Thumbprint,
      },
    );
    if (this.#renewalStarted) this.#schedule();
    return { credentials, via: identity.via };
  }

  /** The hub's certificate for a CSR of the current device id, or `undefined` when DPS has to issue it. */
  async #renewThroughHub(keyPair: KeyPair, signal: AbortSignal | undefined): Promise<Issued | undefined> {
    const current = this.#current;
    if (this.#hubRenewer === undefined || current === undefined) return undefined;
    const { logger } = this.#options;
    // The hub issues only for CN = the device id (usually the registration id too).
    const csr = await createCsr(current.deviceId, keyPair, { signal });
    let chainPem: string | undefined;
    try {
      chainPem = await this.#hubRenewer({ csr: { wire: csr.wire, publicKey: keyPair.publicKey }, signal });
    } catch (error) {
      if (!isSorterError(error) || error.code !== "HUB_RENEWAL_REFUSED") throw error;
      logger.warn("the hub refused to renew the certificate; provisioning through DPS", {
        error: describeError(error),
      });
      return undefined;
    }
    if (chainPem === undefined) {
      logger.info("the hub connection cannot renew the certificate now; provisioning through DPS", {});
      return undefined;
    }
    return {
      deviceId: current.deviceId,
      assignedHub: current.assignedHub,
      chainPems: splitPemBundle(chainPem),
      csrPem: csr.pem,
      via: "hub",
    };
  }

  async #provisionThroughDps(keyPair: KeyPair, signal: AbortSignal | undefined): Promise<Issued> {
    const { clock, logger, registrationId, minProvisionIntervalMs } = this.#options;
    const wait = this.#lastProvisionMs + minProvisionIntervalMs - clock.now();
    if (wait > 0) {
      logger.info("waiting before provisioning again", { waitMs: Math.round(wait) });
      await delay(wait, { clock, signal });
    }
    this.#lastProvisionMs = clock.now();
    const csr = await createCsr(registrationId, keyPair, { signal });
    const identity = await this.#provisioner({
      registrationId,
      csr: { wire: csr.wire, publicKey: keyPair.publicKey },
      signal,
    });
    return { ...identity, csrPem: csr.pem, via: "dps" };
  }

  #schedule(delayOverrideMs?: number): void {
    if (this.#closed || this.#current === undefined) return;
    const { clock } = this.#options;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    const due = this.renewalDueMs ?? clock.now();
    const delayMs = delayOverrideMs ?? Math.max(0, due - clock.now());
    const fire = (): void => {
      this.#timer = undefined;
      if (this.#closed) return;
      if (delayOverrideMs === undefined && clock.now() < due) {
        this.#schedule();
        return;
      }
      void this.#renewInBackground();
    };
    this.#timer = clock.setTimeout(fire, Math.min(delayMs, MAX_TIMER_MS));
  }

  async #renewInBackground(): Promise<void> {
    const { logger, retryMaxMs, retryInitialMs, clock } = this.#options;
    try {
      await this.#provisionOnce("renewal due", this.#backgroundAbort.signal, {
        notify: true,
        throughHub: true,
      });
      this.#retryMs = retryInitialMs;
      const due = this.renewalDueMs ?? 0;
      if (due <= clock.now()) {
        logger.warn(
          "the new certificate is already due for renewal; check the clock and the credential policy",
          {},
        );
        this.#schedule(retryMaxMs);
      }
    } catch (error) {
      if (this.#closed) return;
      logger.warn("certificate renewal failed; retrying", {
        error: describeError(error),
        retryInMs: this.#retryMs,
      });
      this.#schedule(this.#retryMs);
      this.#retryMs = Math.min(this.#retryMs * 2, retryMaxMs);
    }
  }
}
