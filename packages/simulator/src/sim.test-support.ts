import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createSasToken, deriveDeviceKey, dpsResourceUri } from "@skittlesorter/attestation";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { connectAsync, type MqttClient } from "mqtt";
import { AdminClient } from "./admin/client.ts";
import { type CliIo, main } from "./cli/program.ts";
import type { SimConfig, SimConfigOnDisk } from "./config.ts";
import type { StartSimulatorOptions } from "./options.ts";
import { type Simulator, startSimulator } from "./simulator.ts";
import { provisionDevice as provisionWithHelper } from "./testing/index.ts";

export interface TestSim {
  sim: Simulator<SimConfigOnDisk>;
  config: SimConfigOnDisk;
  dir: TempDir;
  admin: AdminClient;
  rootPem: string;
  groupKey: string;
  close(): Promise<void>;
}

/** Starts a simulator on free ports in a fresh temp dir. */
export async function startTestSim(options: Omit<StartSimulatorOptions, "dataDir"> = {}): Promise<TestSim> {
  const dir = await tempDir("skittle-sim-test-");
  const sim = await startSimulator({
    dpsPort: 0,
    dpsWsPort: 0,
    hubPort: 0,
    httpPort: 0,
    ...options,
    dataDir: dir.path,
  });
  const config = sim.config;
  return {
    sim,
    config,
    dir,
    admin: new AdminClient(config.http.url),
    rootPem: await readFile(config.trustedCaFile, "utf8"),
    groupKey: config.enrollmentGroups.find((group) => group.id === "skittlesorter")?.primaryKey ?? "",
    async close() {
      await sim.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

export function sasFor(
  config: SimConfig,
  registrationId: string,
  key: string,
  options: { expiresAt?: number; keyName?: string | null; resourceId?: string } = {},
): string {
  return createSasToken(dpsResourceUri(config.idScope, options.resourceId ?? registrationId), key, {
    ...(options.keyName === null ? {} : { keyName: options.keyName ?? "registration" }),
    ...(options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt }),
  });
}

export function groupSas(sim: TestSim, registrationId: string): string {
  return sasFor(sim.config, registrationId, deriveDeviceKey(sim.groupKey, registrationId));
}

export interface DpsReply {
  topic: string;
  status: number;
  rid: string;
  retryAfter: number | undefined;
  body: Record<string, unknown>;
}

export interface RawDevice {
  client: MqttClient;
  /** Publishes `payload` on `topic` and waits for the answer carrying `rid`. */
  request(topic: string, payload: string | Buffer, rid: string): Promise<DpsReply>;
  register(body?: unknown, rid?: string): Promise<DpsReply>;
  poll(operationId: string, rid?: string): Promise<DpsReply>;
  /** Registers and polls (without waiting) until the answer is final. */
  registerUntilDone(body?: unknown): Promise<DpsReply>;
  replies: DpsReply[];
  close(): Promise<void>;
}

export interface RawDeviceOptions {
  registrationId: string;
  password?: string;
  cert?: string;
  key?: string;
  apiVersion?: string;
  clientId?: string;
  username?: string;
  idScope?: string;
  websocket?: boolean;
  subscribe?: boolean;
}

/** A hand-driven MQTT device (mqtt.js) to exercise exact topics, bodies and error answers. */
export async function rawDevice(sim: TestSim, options: RawDeviceOptions): Promise<RawDevice> {
  const { config } = sim;
  const username =
    options.username ??
    `${options.idScope ?? config.idScope}/registrations/${options.registrationId}/api-version=${options.apiVersion ?? "2025-07-01-preview"}&ClientVersion=raw-test`;
  const url = options.websocket ? config.dps.wsUrl : `mqtts://${config.dps.host}:${config.dps.port}`;
  const client = await connectAsync(url, {
    clientId: options.clientId ?? options.registrationId,
    username,
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
    ca: sim.rootPem,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  const replies: DpsReply[] = [];
  const waiting = new Map<string, (reply: DpsReply) => void>();
  client.on("message", (topic, payload) => {
    const match = /^\$dps\/registrations\/res\/(\d+)\/\?\$rid=([^&]*)(?:&retry-after=(\d+))?$/.exec(topic);
    if (match === null) return;
    const reply: DpsReply = {
      topic,
      status: Number(match[1]),
      rid: match[2] ?? "",
      retryAfter: match[3] === undefined ? undefined : Number(match[3]),
      body: JSON.parse(payload.toString("ascii")) as Record<string, unknown>,
    };
    replies.push(reply);
    waiting.get(reply.rid)?.(reply);
  });
  if (options.subscribe !== false) await client.subscribeAsync("$dps/registrations/res/#", { qos: 1 });
  const request = (topic: string, payload: string | Buffer, rid: string): Promise<DpsReply> =>
    new Promise<DpsReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DPS answer for $rid=${rid} on ${topic}`)), 8000);
      waiting.set(rid, (reply) => {
        clearTimeout(timer);
        waiting.delete(rid);
        resolve(reply);
      });
      client.publish(topic, payload, { qos: 1 });
    });
  const register = (body: unknown = { registrationId: options.registrationId }, rid = randomUUID()) =>
    request(
      `$dps/registrations/PUT/iotdps-register/?$rid=${rid}`,
      typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      rid,
    );
  const poll = (operationId: string, rid = randomUUID()) =>
    request(
      `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${operationId}`,
      " ",
      rid,
    );
  return {
    client,
    request,
    register,
    poll,
    async registerUntilDone(body) {
      let reply = await register(body);
      const operationId = reply.body.operationId as string | undefined;
      while (reply.status === 202 && operationId !== undefined) reply = await poll(operationId);
      return reply;
    },
    replies,
    close: () => client.endAsync(true),
  };
}

const officialScript = fileURLToPath(new URL("./dps/__fixtures__/official-provision.cjs", import.meta.url));

export interface OfficialResult {
  ok: boolean;
  name?: string;
  message?: string;
  result?: Record<string, unknown>;
}

/** Provisions with the OFFICIAL Azure client in a child process that trusts the simulator's TLS root. */
export function officialProvision(
  sim: TestSim,
  input: {
    registrationId: string;
    symmetricKey?: string;
    certFile?: string;
    keyFile?: string;
    payload?: unknown;
  },
): Promise<OfficialResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        officialScript,
        JSON.stringify({ host: sim.config.dps.endpoint, idScope: sim.config.idScope, ...input }),
      ],
      {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        env: { ...process.env, NODE_EXTRA_CA_CERTS: sim.config.trustedCaFile },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        if (stdout.trim() === "") {
          reject(new Error(`official client produced no result: ${error?.message ?? ""} ${stderr}`));
          return;
        }
        resolve(JSON.parse(stdout) as OfficialResult);
      },
    );
  });
}

/** Runs the CLI in-process and captures its output. */
export async function runCli(
  argv: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    cwd: process.cwd(),
  };
  const code = await main(argv, { io });
  return { code, stdout, stderr };
}

export interface ProvisionedDevice {
  deviceId: string;
  assignedHub: string;
  /** The device's SAS key (derived from the group key). */
  deviceKey: string;
  /** With `csr`: the issued chain (leaf, issuing CA, root) as one PEM bundle, and the key PEM. */
  chainPem?: string;
  keyPem?: string;
}

/** Provisions through the simulator's DPS with `@skittlesorter/dps-mqtt` (group key; with `csr`, gets a certificate). */
export async function provisionDevice(
  sim: TestSim,
  registrationId: string,
  options: { csr?: boolean; groupKey?: string } = {},
): Promise<ProvisionedDevice> {
  const groupKey = options.groupKey ?? sim.groupKey;
  const credentials = await provisionWithHelper(sim.sim, { registrationId, csr: options.csr, groupKey });
  const device: ProvisionedDevice = {
    deviceId: credentials.deviceId,
    assignedHub: credentials.assignedHub,
    deviceKey: deriveDeviceKey(groupKey, registrationId),
  };
  if (credentials.certificateChainPem !== undefined && credentials.privateKeyPem !== undefined) {
    device.chainPem = credentials.certificateChainPem;
    device.keyPem = credentials.privateKeyPem;
  }
  return device;
}

/** The certificate chain and key of a device provisioned with `csr: true`. */
export function x509Of(device: ProvisionedDevice): { cert: string; key: string } {
  if (device.chainPem === undefined || device.keyPem === undefined) {
    throw new Error(`device ${device.deviceId} was provisioned without a CSR: it has no certificate`);
  }
  return { cert: device.chainPem, key: device.keyPem };
}

/** Resolves once `predicate()` is true (polling), or rejects after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
