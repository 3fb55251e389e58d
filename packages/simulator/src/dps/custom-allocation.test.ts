// Custom allocation: a webhook (a small HTTP server here, an Azure Function in Azure) picks the hub and returns a
// payload; the official MQTT provisioning client receives both.
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { deriveDeviceKey } from "@skittlesorter/attestation";
import {
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  privateKeyToPem,
} from "@skittlesorter/csr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { officialProvision, startTestSim, type TestSim } from "../sim.test-support.ts";
import type { LinkedHub } from "../state/model.ts";
import { allocateWithWebhook, CustomAllocationError } from "./custom-allocation.ts";
import { serviceClient } from "./service-api/service-api.test-support.ts";

const keyOf = (groupId: string) => createHash("sha256").update(groupId).digest("base64");

type Answer = (body: Record<string, unknown>, response: ServerResponse) => void;

/** A webhook on a free port; `answer` decides each reply, `requests` records what DPS sent. */
async function startWebhook(): Promise<{
  url: string;
  server: Server;
  requests: Record<string, unknown>[];
  answer: { current: Answer };
}> {
  const requests: Record<string, unknown>[] = [];
  const answer: { current: Answer } = { current: (_body, response) => response.writeHead(500).end() };
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      requests.push(body);
      answer.current(body, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/api/allocate?code=secret`, server, requests, answer };
}

const json = (response: ServerResponse, body: unknown) =>
  response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));

describe("custom allocation webhook", () => {
  let sim: TestSim;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;

  beforeAll(async () => {
    sim = await startTestSim();
    webhook = await startWebhook();
    await sim.admin.request("PUT", "/admin/hubs/toasters", {
      body: { hostname: "toasters-hub.example.net" },
    });
    await sim.admin.putEnrollment("group", "custom", {
      attestation: { type: "symmetricKey", primaryKey: keyOf("custom"), secondaryKey: keyOf("custom") },
      allocationPolicy: "custom",
      customAllocationDefinition: { webhookUrl: webhook.url, apiVersion: "2021-10-01" },
    });
  });
  afterAll(async () => {
    webhook.server.close();
    await sim.close();
  });

  const register = (registrationId: string, payload?: unknown) =>
    officialProvision(sim, {
      registrationId,
      symmetricKey: deriveDeviceKey(keyOf("custom"), registrationId),
      ...(payload === undefined ? {} : { payload }),
    });

  it("assigns the hub the webhook picks and returns its payload to the device", async () => {
    webhook.answer.current = (body, response) => {
      const context = body.deviceRuntimeContext as { payload?: { modelId?: string } };
      json(response, {
        iotHubHostName: context.payload?.modelId === "toaster" ? "toasters-hub.example.net" : "nowhere",
        initialTwin: { tags: { deviceType: "toaster" }, properties: { desired: { state: "ready" } } },
        payload: { greeting: "hello toaster" },
      });
    };
    const outcome = await register("toaster-1", { modelId: "toaster" });
    expect(outcome.ok).toBe(true);
    expect(outcome.result).toMatchObject({
      assignedHub: "toasters-hub.example.net",
      deviceId: "toaster-1",
      status: "assigned",
      payload: { greeting: "hello toaster" },
    });
    const request = webhook.requests.at(-1) as Record<string, Record<string, unknown>>;
    expect(request.enrollmentGroup).toMatchObject({
      enrollmentGroupId: "custom",
      allocationPolicy: "custom",
      attestation: { type: "symmetricKey", symmetricKey: {} },
    });
    expect(JSON.stringify(request.enrollmentGroup)).not.toContain(keyOf("custom"));
    expect(request.deviceRuntimeContext).toEqual({
      registrationId: "toaster-1",
      symmetricKey: {},
      payload: { modelId: "toaster" },
    });
    expect(request.linkedHubs).toEqual(
      expect.arrayContaining([sim.config.hubs[0]?.hostname, "toasters-hub.example.net"]),
    );
  });

  it("tells the webhook where a re-registering device is now", async () => {
    webhook.answer.current = (_body, response) =>
      json(response, { iotHubHostName: "toasters-hub.example.net" });
    await register("toaster-2");
    await register("toaster-2");
    expect(webhook.requests.at(-1)?.deviceRuntimeContext).toMatchObject({
      registrationId: "toaster-2",
      currentIotHubHostName: "toasters-hub.example.net",
      currentDeviceId: "toaster-2",
    });
  });

  it("gives the webhook an X.509 device's certificate info (group by signing certificate, made over the service REST)", async () => {
    const ca = await createCertificateAuthority({
      commonName: "line CA",
      keyType: "ec-p256",
      validityDays: 30,
    });
    const created = await serviceClient(sim.config)("PUT", "/enrollmentGroups/x509-custom", {
      body: {
        enrollmentGroupId: "x509-custom",
        attestation: {
          type: "x509",
          x509: { signingCertificates: { primary: { certificate: ca.certificatePem } } },
        },
        allocationPolicy: "custom",
        customAllocationDefinition: { webhookUrl: webhook.url, apiVersion: "2021-10-01" },
      },
    });
    expect(created.status).toBe(200);
    const keyPair = await generateKeyPair("ec-p256");
    const leaf = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: "camera-9",
      issuer: { certificatePem: ca.certificatePem, privateKey: ca.privateKey },
      validityDays: 5,
      extendedKeyUsage: ["clientAuth"],
    });
    const certFile = `${sim.dir.path}/camera-9.pem`;
    const keyFile = `${sim.dir.path}/camera-9.key`;
    await writeFile(certFile, `${leaf.trimEnd()}\n${ca.certificatePem}`);
    await writeFile(keyFile, privateKeyToPem(keyPair.privateKey));
    webhook.answer.current = (_body, response) =>
      json(response, { iotHubHostName: "toasters-hub.example.net", payload: { lens: "wide" } });

    const outcome = await officialProvision(sim, { registrationId: "camera-9", certFile, keyFile });
    expect(outcome.result).toMatchObject({
      assignedHub: "toasters-hub.example.net",
      payload: { lens: "wide" },
    });
    const runtime = webhook.requests.at(-1)?.deviceRuntimeContext as Record<
      string,
      Record<string, Record<string, string>>
    >;
    expect(runtime.x509?.clientCertificate).toMatchObject({
      subjectName: "CN=camera-9",
      issuerName: "CN=line CA",
    });
    expect(runtime.x509?.signingCertificate).toMatchObject({ subjectName: "CN=line CA" });
    expect(runtime).not.toHaveProperty("symmetricKey");
  });

  it("fails the registration when the webhook errs or picks a hub it was not offered", async () => {
    webhook.answer.current = (_body, response) => response.writeHead(500).end();
    const failed = await register("toaster-3");
    expect(failed.ok).toBe(false);
    expect(await sim.admin.getRegistration("toaster-3")).toMatchObject({
      status: "failed",
      errorCode: 400209,
    });

    webhook.answer.current = (_body, response) =>
      json(response, { iotHubHostName: "unknown-hub.example.net" });
    expect((await register("toaster-4")).ok).toBe(false);
    const registration = await sim.admin.getRegistration("toaster-4");
    expect(registration.errorMessage).toContain("unknown-hub.example.net");
  });
});

describe("allocateWithWebhook", () => {
  const hub: LinkedHub = {
    name: "a",
    hostname: "a.example.net",
    local: false,
    allocationWeight: 1,
    applyAllocationPolicy: true,
    created: "",
  };
  const request = {
    enrollment: { kind: "group" as const, wire: {} },
    deviceRuntimeContext: { registrationId: "d" },
    linkedHubs: [hub],
  };

  it("gives up on a webhook that does not answer in time", async () => {
    const server = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const call = allocateWithWebhook(
        { webhookUrl: `http://127.0.0.1:${port}/`, apiVersion: "2021-10-01" },
        request,
        { timeoutMs: 200 },
      );
      await expect(call).rejects.toThrow(CustomAllocationError);
      await expect(call).rejects.toThrow(/did not answer within 200 ms/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("says when the webhook cannot be reached or answers no JSON", async () => {
    const server = createServer((_request, response) => response.writeHead(200).end("not json"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const definition = { webhookUrl: `http://127.0.0.1:${port}/`, apiVersion: "2021-10-01" };
    await expect(allocateWithWebhook(definition, request, { timeoutMs: 5000 })).rejects.toThrow(/not JSON/);
    server.close();
    await new Promise((resolve) => server.once("close", resolve));
    await expect(allocateWithWebhook(definition, request, { timeoutMs: 5000 })).rejects.toThrow(
      /cannot be reached/,
    );
  });
});
