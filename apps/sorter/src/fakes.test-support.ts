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
