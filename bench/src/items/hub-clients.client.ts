// Item 7, client side. `provision`: 100 devices through DPS with CSRs, their chains and keys to a file. `hub-mqtt` /
// `azure-iot-device`: one fresh process per run connects every device with one client library, measures the memory
// the connections hold, sends QoS 1 telemetry from all of them at once, and (hub-mqtt only) renews a few
// certificates through the hub.
import { readFile, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { symmetricKeyAttestation } from "@skittlesorter/attestation";
import { createCsr, generateKeyPair, privateKeyToPem } from "@skittlesorter/csr";
import { provision } from "@skittlesorter/dps-mqtt";
import { connectHub, type HubClient } from "@skittlesorter/hub-mqtt";
import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import { processCpuMs, processRssMiB } from "../processes.ts";

// CommonJS packages: their named exports are not all visible to ESM, their default export is.
const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

export interface Device {
  deviceId: string;
  certificatePem: string;
  privateKeyPem: string;
}

export interface ProvisionInput {
  mode: "provision";
  host: string;
  port: number;
  idScope: string;
  groupKey: string;
  caFile: string;
  devices: number;
  concurrency: number;
  devicesFile: string;
}

export interface RunInput {
  mode: "hub-mqtt" | "azure-iot-device";
  hubHost: string;
  hubPort: number;
  /** `host:port` as DPS assigned it. */
  assignedHub: string;
  caFile: string;
  devicesFile: string;
  messagesPerDevice: number;
  /** Devices (the first ones) that renew their certificate through the hub after the telemetry (hub-mqtt only). */
  renewals: number;
  simPid: number;
}

export interface RunOutput {
  devices: number;
  connectWallMs: number;
  /** After a full GC, before any connection and with all of them open. */
  rssBeforeMiB: number | null;
  rssConnectedMiB: number | null;
  heapBeforeMiB: number;
  heapConnectedMiB: number;
  messages: number;
  errors: number;
  wallMs: number;
  clientCpuMs: number;
  simCpuMs: number | null;
  /** renewCertificate round trips (202, 200, chain checked), ms. */
  renewMs: number[];
}

/** A device connection, whichever library holds it. */
interface Connected {
  send(body: string): Promise<void>;
  close(): Promise<void>;
  hub?: HubClient;
}

const gc = ((): (() => void) => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i += 1) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const cpuMs = (): number => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};

async function inBatches<T>(
  items: readonly T[],
  size: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map(work));
  }
}

async function provisionAll(input: ProvisionInput): Promise<{ devices: number; assignedHub: string }> {
  const ca = await readFile(input.caFile, "utf8");
  const devices: Device[] = [];
  let assignedHub = "";
  const ids = Array.from(
    { length: input.devices },
    (_, index) => `bench-hub-${String(index).padStart(3, "0")}`,
  );
  await inBatches(ids, input.concurrency, async (registrationId) => {
    const keyPair = await generateKeyPair("ec-p256");
    const csr = await createCsr(registrationId, keyPair);
    const result = await provision({
      host: input.host,
      port: input.port,
      idScope: input.idScope,
      attestation: symmetricKeyAttestation({ registrationId, groupKey: input.groupKey }),
      csr: { wire: csr.wire, publicKey: keyPair.publicKey },
      ca,
      minRetryAfterMs: 0,
      maxRetryAfterMs: 200,
      timeoutMs: 120_000,
    });
    assignedHub = result.assignedHub;
    devices.push({
      deviceId: result.deviceId,
      certificatePem: result.issuedCertificateChain?.bundle ?? "",
      privateKeyPem: privateKeyToPem(keyPair.privateKey),
    });
  });
  await writeFile(input.devicesFile, JSON.stringify(devices));
  return { devices: devices.length, assignedHub };
}

async function connectWith(input: RunInput, device: Device, ca: string): Promise<Connected> {
  if (input.mode === "hub-mqtt") {
    const hub = await connectHub({
      hostName: input.assignedHub,
      connectHost: input.hubHost,
      port: input.hubPort,
      deviceId: device.deviceId,
      credentials: {
        kind: "x509",
        certificatePem: device.certificatePem,
        privateKeyPem: device.privateKeyPem,
      },
      ca,
      signal: AbortSignal.timeout(120_000),
    });
    return { send: (body) => hub.sendTelemetry(body).then(() => undefined), close: () => hub.close(), hub };
  }
  const client = Client.fromConnectionString(
    `HostName=${input.assignedHub};DeviceId=${device.deviceId};x509=true`,
    Mqtt,
  );
  await client.setOptions({ cert: device.certificatePem, key: device.privateKeyPem, ca });
  await client.open();
  return {
    send: (body) => client.sendEvent(new Message(body)).then(() => undefined),
    close: () => client.close().then(() => undefined),
  };
}

async function runSide(input: RunInput): Promise<RunOutput> {
  const ca = await readFile(input.caFile, "utf8");
  const devices = JSON.parse(await readFile(input.devicesFile, "utf8")) as Device[];
  await settle();
  const rssBeforeMiB = processRssMiB(process.pid);
  const heapBeforeMiB = process.memoryUsage().heapUsed / 1024 / 1024;
  const connections: Connected[] = [];
  const connectStarted = performance.now();
  await inBatches(devices, 20, async (device) => {
    connections.push(await connectWith(input, device, ca));
  });
  const connectWallMs = performance.now() - connectStarted;
  await settle();
  const rssConnectedMiB = processRssMiB(process.pid);
  const heapConnectedMiB = process.memoryUsage().heapUsed / 1024 / 1024;

  let errors = 0;
  const simBefore = processCpuMs(input.simPid);
  const clientBefore = cpuMs();
  const started = performance.now();
  await Promise.all(
    connections.map(async (connection, index) => {
      for (let n = 0; n < input.messagesPerDevice; n += 1) {
        const body = JSON.stringify({ device: index, n, color: "red", at: Date.now() });
        await connection.send(body).catch(() => {
          errors += 1;
        });
      }
    }),
  );
  const wallMs = performance.now() - started;
  const clientCpuMs = cpuMs() - clientBefore;
  const simAfter = processCpuMs(input.simPid);

  const renewMs: number[] = [];
  if (input.mode === "hub-mqtt") {
    for (const connection of connections.slice(0, input.renewals)) {
      const hub = connection.hub as HubClient;
      const keyPair = await generateKeyPair("ec-p256");
      const csr = await createCsr(hub.deviceId, keyPair);
      const renewStarted = performance.now();
      await hub.renewCertificate({ csr: { wire: csr.wire, publicKey: keyPair.publicKey } });
      renewMs.push(performance.now() - renewStarted);
    }
  }
  await Promise.all(connections.map((connection) => connection.close().catch(() => undefined)));
  return {
    devices: connections.length,
    connectWallMs,
    rssBeforeMiB,
    rssConnectedMiB,
    heapBeforeMiB,
    heapConnectedMiB,
    messages: connections.length * input.messagesPerDevice - errors,
    errors,
    wallMs,
    clientCpuMs,
    simCpuMs: simBefore === null || simAfter === null ? null : simAfter - simBefore,
    renewMs,
  };
}

export async function measure(
  input: ProvisionInput | RunInput,
): Promise<RunOutput | { devices: number; assignedHub: string }> {
  return input.mode === "provision" ? provisionAll(input) : runSide(input);
}
