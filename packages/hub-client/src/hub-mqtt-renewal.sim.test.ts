// Certificate renewal through skittle-sim's hub with the real hub-mqtt client (through the hub-mqtt connector):
// provisioned with a CSR → renews through the hub → reconnects with the new certificate → telemetry continues,
// nothing lost; and the simulator's injected 429/503 answers are retried as Azure's rules say.

import { X509Certificate } from "node:crypto";
import type { Clock } from "@skittlesorter/core";
import { createCsr, generateKeyPair, privateKeyToPem } from "@skittlesorter/csr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HubConnection, type HubCredentials, hubMqttConnector } from "./index.ts";
import { type SimHub, startSimHub } from "./sim.test-support.ts";

let simHub: SimHub;

beforeAll(async () => {
  simHub = await startSimHub();
}, 120_000);

afterAll(async () => {
  await simHub?.close();
});

interface Renewal {
  requestId: string;
  state: string;
  status?: number;
  errorCode?: number;
  serialNumber?: string;
}

interface Telemetry {
  id: number;
  body: string;
  systemProperties: Record<string, string>;
}

async function renewedCredentials(
  connection: HubConnection,
  current: HubCredentials & { type: "x509" },
): Promise<HubCredentials & { type: "x509" }> {
  const keyPair = await generateKeyPair("ec-p384");
  const csr = await createCsr(current.deviceId, keyPair);
  const renew = connection.renewCertificate;
  if (renew === undefined) throw new Error("the hub-mqtt connector always renews");
  const renewed = await renew({ wire: csr.wire, publicKey: keyPair.publicKey });
  return {
    ...current,
    certificatePem: renewed.certificatePem,
    privateKeyPem: privateKeyToPem(keyPair.privateKey),
  };
}

describe("hub-mqtt renewal through skittle-sim", () => {
  it("renews on the live connection, reconnects with the new certificate, and loses no telemetry", async () => {
    const original = (await simHub.provisionDevice("renew-e2e-01", "x509")) as HubCredentials & {
      type: "x509";
    };
    const connector = hubMqttConnector({ ca: simHub.ca, connectTimeoutMs: 20_000 });
    const first = await connector.connect(original);
    const sent: string[] = [];
    const send = async (connection: HubConnection, body: string): Promise<void> => {
      await connection.send({ body, messageId: body });
      sent.push(body);
    };
    await send(first, "before-1");
    await send(first, "before-2");
    // Slow issuance: the live connection keeps carrying telemetry while the request is pending.
    await simHub.admin("PUT", "/admin/renewals/settings", { delayMs: 400 });
    let renewed: HubCredentials & { type: "x509" };
    try {
      const renewal = renewedCredentials(first, original);
      await send(first, "during-1");
      await send(first, "during-2");
      renewed = await renewal;
    } finally {
      await simHub.admin("PUT", "/admin/renewals/settings", { delayMs: 0 });
    }
    await send(first, "after-renewal");
    await first.close();

    const newLeaf = new X509Certificate(renewed.certificatePem);
    expect(newLeaf.subject).toBe(`CN=${original.deviceId}`);
    expect(newLeaf.serialNumber).not.toBe(new X509Certificate(original.certificatePem).serialNumber);
    const second = await connector.connect(renewed);
    await send(second, "reconnected-1");
    await send(second, "reconnected-2");
    await second.close();

    const stored = await simHub.admin<Telemetry[]>(
      "GET",
      `/admin/telemetry?device=${original.deviceId}&limit=1000`,
    );
    expect(stored.sort((a, b) => a.id - b.id).map((message) => message.body)).toEqual(sent);
    // IoT Hub stamps the auth method as JSON: a CA-signed certificate is x509Certificate from an external issuer.
    expect(
      new Set(
        stored.map((message) => {
          const { type, issuer } = JSON.parse(message.systemProperties.connectionAuthMethod ?? "{}");
          return `${type}/${issuer}`;
        }),
      ),
    ).toEqual(new Set(["x509Certificate/external"]));
    const renewals = await simHub.admin<Renewal[]>("GET", `/admin/renewals?device=${original.deviceId}`);
    expect(renewals).toEqual([expect.objectContaining({ state: "issued", status: 200 })]);
    const device = await simHub.admin<{ certificate: { notAfter: string } }>(
      "GET",
      `/admin/devices/${original.deviceId}`,
    );
    expect(device.certificate.notAfter).toBe(new Date(newLeaf.validTo).toISOString());
  });

  it("retries the simulator's 429 and 503 answers with the service's waits (retry-after wins)", async () => {
    const original = (await simHub.provisionDevice("renew-retry-01", "x509")) as HubCredentials & {
      type: "x509";
    };
    // Short waits (the renewal retries) are recorded and run at once; long ones (timeouts) run for real.
    const waits: number[] = [];
    const clock: Clock = {
      now: () => Date.now(),
      setTimeout(callback, ms) {
        if (ms >= 10_000) return setTimeout(callback, ms);
        waits.push(ms);
        return setTimeout(callback, 0);
      },
      clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    };
    const connection = await hubMqttConnector({ ca: simHub.ca, connectTimeoutMs: 20_000, clock }).connect(
      original,
    );
    const deviceId = original.deviceId;
    try {
      const cases: [Record<string, unknown>, (ms: number) => boolean][] = [
        [{ status: 503, deviceId }, (ms) => ms >= 5_000 && ms <= 6_000],
        [{ status: 429, deviceId }, (ms) => ms >= 1_000 && ms <= 1_200],
        [{ status: 429, deviceId, retryAfterSeconds: 2 }, (ms) => ms === 2_000],
      ];
      for (const [fault, expected] of cases) {
        await simHub.admin("POST", "/admin/renewals/faults", { ...fault, count: 1 });
        waits.length = 0;
        await renewedCredentials(connection, original);
        expect(waits.filter(expected), JSON.stringify({ fault, waits })).toHaveLength(1);
      }
    } finally {
      await connection.close();
      await simHub.admin("DELETE", "/admin/renewals/faults");
    }
    const renewals = await simHub.admin<Renewal[]>("GET", `/admin/renewals?device=${deviceId}`);
    expect(renewals.reverse().map((record) => [record.state, record.status, record.errorCode])).toEqual([
      ["refused", 503, 503001],
      ["issued", 200, undefined],
      ["refused", 429, 429002],
      ["issued", 200, undefined],
      ["refused", 429, 429002],
      ["issued", 200, undefined],
    ]);
  });

  it("fails a second renewal at once while one is in flight: on the same client without asking the hub, on another with the hub's 409", async () => {
    const original = (await simHub.provisionDevice("renew-busy-01", "x509")) as HubCredentials & {
      type: "x509";
    };
    const connector = hubMqttConnector({ ca: simHub.ca, connectTimeoutMs: 20_000 });
    const one = await connector.connect(original);
    await simHub.admin("PUT", "/admin/renewals/settings", { delayMs: 600_000 });
    const abort = new AbortController();
    try {
      const keyPair = await generateKeyPair("ec-p256");
      const csr = { wire: (await createCsr(original.deviceId, keyPair)).wire, publicKey: keyPair.publicKey };
      const pending = one.renewCertificate?.(csr, { signal: abort.signal });
      pending?.catch(() => {});
      const pendingOnHub = async (): Promise<boolean> =>
        (await simHub.admin<Renewal[]>("GET", `/admin/renewals?device=${original.deviceId}`)).some(
          (record) => record.state === "pending",
        );
      while (!(await pendingOnHub())) await new Promise((resolve) => setTimeout(resolve, 25));
      // The same client asks again: it fails at once, without asking the hub.
      const requestsBefore = (
        await simHub.admin<Renewal[]>("GET", `/admin/renewals?device=${original.deviceId}`)
      ).length;
      await expect(one.renewCertificate?.(csr)).rejects.toMatchObject({
        code: "HUB_REJECTED",
        reason: "HUB_RENEWAL_IN_PROGRESS",
        message: expect.stringMatching(/already in flight/),
      });
      expect(
        (await simHub.admin<Renewal[]>("GET", `/admin/renewals?device=${original.deviceId}`)).length,
      ).toBe(requestsBefore);
      // Another client of the same device (e.g. a second process) asks too: the hub answers 409 at once.
      await one.close();
      const two = await connector.connect(original);
      try {
        await expect(two.renewCertificate?.(csr)).rejects.toMatchObject({
          code: "HUB_REJECTED",
          message: expect.stringMatching(/409.*409004.*replace/s),
        });
      } finally {
        await two.close();
      }
    } finally {
      abort.abort();
      await simHub.admin("PUT", "/admin/renewals/settings", { delayMs: 0 });
    }
  });
});
