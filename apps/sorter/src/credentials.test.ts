import { stat } from "node:fs/promises";
import { join } from "node:path";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CertificateSource,
  CredentialManager,
  type CredentialPaths,
  CredentialStore,
  type DeviceCredentials,
  effectiveRenewalDueMs,
  type HubRenewalRequest,
  type HubRenewer,
} from "./credentials.ts";
import { SorterError } from "./errors.ts";
import { captureLogger, fakeProvisioner, ManualClock, waitFor } from "./fakes.test-support.ts";

const DAY = 24 * 3600 * 1000;
let dir: TempDir;
let paths: CredentialPaths;

beforeEach(async () => {
  dir = await tempDir("sorter-cred-");
  paths = {
    keyFile: join(dir.path, "certs", "dev.key.pem"),
    chainFile: join(dir.path, "certs", "dev.chain.pem"),
    csrFile: join(dir.path, "certs", "dev.csr.pem"),
    metadataFile: join(dir.path, "certs", "dev.chain.json"),
  };
});
afterEach(async () => {
  await dir[Symbol.asyncDispose]();
});

function manager(
  provisioner: Awaited<ReturnType<typeof fakeProvisioner>>,
  clock: ManualClock,
  extra: Partial<ConstructorParameters<typeof CredentialManager>[0]> = {},
) {
  return new CredentialManager({
    store: new CredentialStore(paths),
    provisioner: provisioner.provisioner,
    registrationId: "sorter-01",
    keyType: "ec-p256",
    renewalWindowMs: 7 * DAY,
    minProvisionIntervalMs: 0,
    clock,
    ...extra,
  });
}

describe("CredentialManager", () => {
  it("provisions once, stores the key with mode 0600, and a restart reuses the certificate", async () => {
    const clock = new ManualClock();
    const fake = await fakeProvisioner({ clock });
    const first = await manager(fake, clock).ensure();
    expect(first.source).toBe("provisioned");
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]?.registrationId).toBe("sorter-01");
    expect((await stat(paths.keyFile)).mode & 0o777).toBe(0o600);
    expect(first.credentials.certificate.commonName).toBe("sorter-01");

    const second = await manager(fake, clock).ensure(); // a restart: new manager, same files
    expect(second.source).toBe("stored");
    expect(fake.calls).toHaveLength(1);
    expect(second.credentials.certificate.sha256Thumbprint).toBe(
      first.credentials.certificate.sha256Thumbprint,
    );
    expect(second.credentials.privateKeyPem).toBe(first.credentials.privateKeyPem);
  });

  it("renews a stored certificate inside the renewal window with a new key", async () => {
    const clock = new ManualClock();
    const fake = await fakeProvisioner({ clock });
    const first = await manager(fake, clock).ensure();
    clock.advance(24 * DAY); // 30-day certificate, 7-day window: due after 23 days
    const { logger, lines } = captureLogger();
    const second = await manager(fake, clock, { logger }).ensure();
    expect(second.source).toBe("provisioned");
    expect(second.reason).toMatch(/renewal window/);
    expect(fake.calls).toHaveLength(2);
    expect(second.credentials.privateKeyPem).not.toBe(first.credentials.privateKeyPem);
    expect(second.credentials.certificate.notAfter.getTime()).toBeGreaterThan(
      first.credentials.certificate.notAfter.getTime(),
    );
    expect(JSON.stringify(lines)).not.toContain("PRIVATE KEY");
  });

  it("provisions again when the stored files do not fit together or belong to another registration id", async () => {
    const clock = new ManualClock();
    const fake = await fakeProvisioner({ clock });
    await manager(fake, clock).ensure();
    const other = await manager(fake, clock, { registrationId: "sorter-02" }).ensure();
    expect(other.source).toBe("provisioned");
    expect(other.reason).toMatch(/sorter-01/);
    // Now damage the set: the key of sorter-02's certificate with an older chain.
    const { copyFile } = await import("node:fs/promises");
    await copyFile(paths.chainFile, `${paths.chainFile}.bak`);
    await manager(fake, clock, { registrationId: "sorter-02" }).renew("test");
    await copyFile(`${paths.chainFile}.bak`, paths.chainFile);
    const damaged = await manager(fake, clock, { registrationId: "sorter-02" }).ensure();
    expect(damaged.source).toBe("provisioned");
    expect(damaged.reason).toMatch(/cannot be used|does not match/);
  });

  it("renews in the background before expiry and tells listeners", async () => {
    const clock = new ManualClock();
    const fake = await fakeProvisioner({ clock });
    const credentials = manager(fake, clock);
    const { credentials: first } = await credentials.ensure();
    const renewed: DeviceCredentials[] = [];
    credentials.onRenewed((next) => renewed.push(next));
    credentials.startRenewal();
    clock.advance(22 * DAY);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(renewed).toHaveLength(0);
    clock.advance(1 * DAY + 1000);
    await waitFor(() => renewed.length === 1, 10_000, "renewal");
    expect(renewed[0]?.privateKeyPem).not.toBe(first.privateKeyPem);
    expect(credentials.current?.certificate.sha256Thumbprint).toBe(renewed[0]?.certificate.sha256Thumbprint);
    credentials.close();
  });

  it("retries a failed background renewal with backoff", async () => {
    const clock = new ManualClock();
    const fake = await fakeProvisioner({ clock });
    const credentials = manager(fake, clock, { retryInitialMs: 60_000 });
    await credentials.ensure();
    credentials.startRenewal();
    fake.failWith(new Error("DPS down"));
    clock.advance(23 * DAY + 1);
    await waitFor(() => fake.calls.length === 2, 10_000, "first renewal attempt");
    fake.failWith(undefined);
    const renewed = new Promise((resolve) => credentials.onRenewed(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    clock.advance(60_000);
    await renewed;
    expect(fake.calls).toHaveLength(3);
    credentials.close();
  });

  it("schedules a certificate shorter than the window at half its lifetime", () => {
    const notBefore = new Date(0);
    const notAfter = new Date(7 * DAY);
    const summary = {
      subject: "",
      commonName: undefined,
      issuer: "",
      serialNumber: "",
      sha256Thumbprint: "",
      notBefore,
      notAfter,
    };
    expect(effectiveRenewalDueMs(summary, 7 * DAY)).toBe(3.5 * DAY);
    expect(effectiveRenewalDueMs({ ...summary, notAfter: new Date(30 * DAY) }, 7 * DAY)).toBe(23 * DAY);
  });
});

describe("CredentialManager with renewal through IoT Hub", () => {
  /** A hub renewer that issues from the fake CA (as the hub would), or answers as `answer` says. */
  async function hubRenewer(clock: ManualClock) {
    const issuer = await fakeProvisioner({ clock, validityDays: 30 });
    const requests: HubRenewalRequest[] = [];
    let answer: "issue" | "unavailable" | Error = "issue";
    const renewer: HubRenewer = async (request) => {
      requests.push(request);
      if (answer === "unavailable") return undefined;
      if (answer instanceof Error) throw answer;
      const identity = await issuer.provisioner({ registrationId: "unused", csr: request.csr });
      return identity.chainPems.join("\n");
    };
    return {
      renewer,
      requests,
      answer: (next: typeof answer) => {
        answer = next;
      },
    };
  }

  async function renewedInBackground(credentials: CredentialManager, clock: ManualClock) {
    const renewed = new Promise<{ next: DeviceCredentials; via: CertificateSource }>((resolve) =>
      credentials.onRenewed((next, _reason, via) => resolve({ next, via })),
    );
    clock.advance(23 * DAY + 1000);
    return renewed;
  }

  it("renews through the hub first when the renewal is due: a new key, CN = device id, stored 0600", async () => {
    const clock = new ManualClock();
    const dps = await fakeProvisioner({ clock });
    const hub = await hubRenewer(clock);
    const credentials = manager(dps, clock, { hubRenewer: hub.renewer });
    const { credentials: first } = await credentials.ensure();
    expect(hub.requests).toHaveLength(0); // the first certificate always comes from DPS
    credentials.startRenewal();
    const { next, via } = await renewedInBackground(credentials, clock);
    expect(via).toBe("hub");
    expect(hub.requests).toHaveLength(1);
    expect(dps.calls).toHaveLength(1);
    expect(credentials.hubRenewalCount).toBe(1);
    expect(next.privateKeyPem).not.toBe(first.privateKeyPem);
    expect(next.deviceId).toBe(first.deviceId);
    expect(next.assignedHub).toBe(first.assignedHub);
    expect((await stat(paths.keyFile)).mode & 0o777).toBe(0o600);
    // A restart reuses what the hub issued.
    const restarted = await manager(dps, clock).ensure();
    expect(restarted.source).toBe("stored");
    expect(restarted.credentials.certificate.sha256Thumbprint).toBe(next.certificate.sha256Thumbprint);
    credentials.close();
  });

  it.each([
    ["the hub refuses", new SorterError("HUB_RENEWAL_REFUSED", "no certificate management")],
    ["the connection cannot renew", "unavailable" as const],
  ])("provisions through DPS when %s", async (_case, answer) => {
    const clock = new ManualClock();
    const dps = await fakeProvisioner({ clock });
    const hub = await hubRenewer(clock);
    const { logger, text } = captureLogger();
    const credentials = manager(dps, clock, { hubRenewer: hub.renewer, logger });
    await credentials.ensure();
    credentials.startRenewal();
    hub.answer(answer);
    const { via } = await renewedInBackground(credentials, clock);
    expect(via).toBe("dps");
    expect(hub.requests).toHaveLength(1);
    expect(dps.calls).toHaveLength(2);
    expect(credentials.hubRenewalCount).toBe(0);
    expect(text()).toMatch(/provisioning through DPS/);
    credentials.close();
  });

  it("retries through the hub later when the hub is only unreachable", async () => {
    const clock = new ManualClock();
    const dps = await fakeProvisioner({ clock });
    const hub = await hubRenewer(clock);
    const credentials = manager(dps, clock, { hubRenewer: hub.renewer, retryInitialMs: 60_000 });
    await credentials.ensure();
    credentials.startRenewal();
    hub.answer(new SorterError("HUB_UNREACHABLE", "the hub went away"));
    clock.advance(23 * DAY + 1000);
    await waitFor(() => hub.requests.length === 1, 10_000, "the first attempt");
    await new Promise((resolve) => setTimeout(resolve, 20));
    hub.answer("issue");
    const renewed = new Promise<CertificateSource>((resolve) =>
      credentials.onRenewed((_next, _reason, via) => resolve(via)),
    );
    clock.advance(60_000);
    expect(await renewed).toBe("hub");
    expect(hub.requests).toHaveLength(2);
    expect(dps.calls).toHaveLength(1);
    credentials.close();
  });

  it("provisions through DPS when the hub refused the certificate (renew())", async () => {
    const clock = new ManualClock();
    const dps = await fakeProvisioner({ clock });
    const hub = await hubRenewer(clock);
    const credentials = manager(dps, clock, { hubRenewer: hub.renewer });
    await credentials.ensure();
    await credentials.renew("the hub refused the certificate");
    expect(hub.requests).toHaveLength(0);
    expect(dps.calls).toHaveLength(2);
  });
});
