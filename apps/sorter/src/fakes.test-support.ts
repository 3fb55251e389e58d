/** Test helpers: a manual clock, a clock-aware fake provisioner (a real CA from @skittlesorter/csr), a log capture. */
import type { Clock, Logger } from "@skittlesorter/core";
import { createCertificateAuthority, issueCertificate, parseCsr } from "@skittlesorter/csr";
import type { ProvisionedIdentity, Provisioner, ProvisionRequest } from "./credentials.ts";

export class ManualClock implements Clock {
  #now: number;
  #timers: { id: number; due: number; callback: () => void }[] = [];
  #id = 0;

  constructor(startMs = Date.now()) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    this.#id += 1;
    this.#timers.push({ id: this.#id, due: this.#now + Math.max(0, ms), callback });
    return this.#id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle);
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#timers.filter((timer) => timer.due <= target).sort((a, b) => a.due - b.due)[0];
      if (next === undefined) break;
      this.#timers = this.#timers.filter((timer) => timer !== next);
      this.#now = Math.max(this.#now, next.due);
      next.callback();
    }
    this.#now = target;
  }
}

/**
 * Real time plus jumps: timers run in real time (network code keeps working), and `jump(ms)` moves the clock
 * forward at once, firing every timer that fell due — a certificate's lifetime passes in a test.
 */
export class JumpClock implements Clock {
  #offsetMs = 0;
  #nextId = 1;
  readonly #timers = new Map<
    number,
    { dueMs: number; callback: () => void; handle: ReturnType<typeof setTimeout> }
  >();

  now(): number {
    return Date.now() + this.#offsetMs;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#arm(id, this.now() + Math.max(0, ms), callback);
    return id;
  }

  clearTimeout(handle: unknown): void {
    const timer = this.#timers.get(handle as number);
    if (timer === undefined) return;
    clearTimeout(timer.handle);
    this.#timers.delete(handle as number);
  }

  jump(ms: number): void {
    this.#offsetMs += ms;
    for (const [id, timer] of [...this.#timers]) {
      clearTimeout(timer.handle);
      this.#arm(id, timer.dueMs, timer.callback);
    }
  }

  #arm(id: number, dueMs: number, callback: () => void): void {
    const handle = setTimeout(
      () => {
        this.#timers.delete(id);
        callback();
      },
      Math.max(0, dueMs - this.now()),
    );
    this.#timers.set(id, { dueMs, callback, handle });
  }
}

export interface FakeIssuer {
  /** Signs the CSR (base64 DER) with its subject and key; the chain as base64 DER, leaf → policy CA → root. */
  issue(csrWire: string): Promise<string[]>;
  rootPem: string;
}

/** A throw-away ADR-like CA whose certificates are dated by `clock` and valid `validityDays` (default 30). */
export async function fakeIssuer(
  options: { clock?: Clock | undefined; validityDays?: number | undefined } = {},
): Promise<FakeIssuer> {
  const provisioner = await fakeProvisioner(options);
  const der = (pem: string): string => pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return {
    rootPem: provisioner.rootPem,
    async issue(csrWire) {
      const { publicKey } = await parseCsr(csrWire, { requireValidSignature: true });
      const identity = await provisioner.provisioner({
        registrationId: "unused",
        csr: { wire: csrWire, publicKey },
      });
      return identity.chainPems.map(der);
    },
  };
}

export interface FakeProvisioner {
  provisioner: Provisioner;
  calls: ProvisionRequest[];
  rootPem: string;
  /** Makes the next calls fail with this error. */
  failWith(error: Error | undefined): void;
}

/** Issues real certificates for the CSR (CN = registration id) from a throw-away CA, dated by `clock`. */
export async function fakeProvisioner(
  options: { clock?: Clock | undefined; validityDays?: number | undefined; hub?: string | undefined } = {},
): Promise<FakeProvisioner> {
  const root = await createCertificateAuthority({
    commonName: "Fake ADR Root",
    validityDays: 3650,
    keyType: "ec-p256",
    clock: options.clock,
  });
  const ica = await createCertificateAuthority({
    commonName: "Fake ADR Policy",
    validityDays: 3650,
    keyType: "ec-p256",
    pathLength: 0,
    issuer: { certificatePem: root.certificatePem, privateKey: root.privateKey },
    clock: options.clock,
  });
  const calls: ProvisionRequest[] = [];
  let failure: Error | undefined;
  const provisioner: Provisioner = async (request): Promise<ProvisionedIdentity> => {
    calls.push(request);
    if (failure !== undefined) throw failure;
    const csr = await parseCsr(request.csr.wire, { requireValidSignature: true });
    const leaf = await issueCertificate({
      publicKey: csr.publicKey,
      commonName: csr.commonName ?? request.registrationId,
      issuer: { certificatePem: ica.certificatePem, privateKey: ica.privateKey },
      validityDays: options.validityDays ?? 30,
      extendedKeyUsage: ["clientAuth"],
      clock: options.clock,
    });
    return {
      deviceId: request.registrationId,
      assignedHub: options.hub ?? "skittle-hub.azure-devices.net",
      chainPems: [leaf, ica.certificatePem, root.certificatePem],
    };
  };
  return {
    provisioner,
    calls,
    rootPem: root.certificatePem,
    failWith: (error) => {
      failure = error;
    },
  };
}

export interface LogLine {
  level: string;
  message: string;
  fields: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, fields?: unknown) => {
    lines.push({ level, message, fields });
  };
  return {
    lines,
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
    text: () =>
      lines.map((line) => `${line.level} ${line.message} ${JSON.stringify(line.fields ?? {})}`).join("\n"),
  };
}

/** Resolves after `predicate` holds (checked every few ms of real time), or rejects after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
