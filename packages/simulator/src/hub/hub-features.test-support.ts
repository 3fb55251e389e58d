// Test helpers for the hub's MQTT features (sessions, C2D, modules): a simulator on a data directory that can be
// restarted on the same ports, the official device client, and a raw MQTT client.
import { readFile } from "node:fs/promises";
import { createSasToken } from "@skittlesorter/attestation";
import type { Clock } from "@skittlesorter/core";
import { tempDir } from "@skittlesorter/test-utils";
import deviceSdk from "azure-iot-device";
import mqttTransport from "azure-iot-device-mqtt";
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import { AdminClient } from "../admin/client.ts";
import type { ProvisionedDevice, TestSim } from "../sim.test-support.ts";
import { startSimulator } from "../simulator.ts";

const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;
export type DeviceClient = InstanceType<typeof Client>;

/** A simulator on `dataDir`: free ports on the first start, the same ports when started again. */
export async function openSim(dataDir: string, clock?: Clock): Promise<TestSim> {
  const sim = await startSimulator({ dataDir, ...(clock === undefined ? {} : { clock }) });
  const config = sim.config;
  return {
    sim,
    config,
    dir: { path: dataDir, [Symbol.asyncDispose]: async () => {} },
    admin: new AdminClient(config.http.url),
    rootPem: await readFile(config.trustedCaFile, "utf8"),
    groupKey: config.enrollmentGroups.find((group) => group.id === "skittlesorter")?.primaryKey ?? "",
    close: () => sim.close(),
  };
}

/** A temporary data directory with a simulator on it; `restart()` closes it and starts another on the same ports. */
export async function restartableSim(clock?: Clock) {
  const dir = await tempDir("skittle-sim-hubfeatures-");
  let current = await openSim(dir.path, clock);
  return {
    get sim(): TestSim {
      return current;
    },
    async restart(): Promise<TestSim> {
      await current.close();
      current = await openSim(dir.path, clock);
      return current;
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await current.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** The official `azure-iot-device` client (MQTT transport) of a device provisioned with a SAS key, opened. */
export async function officialSasClient(sim: TestSim, device: ProvisionedDevice): Promise<DeviceClient> {
  const client = Client.fromConnectionString(
    `HostName=${device.assignedHub};DeviceId=${device.deviceId};SharedAccessKey=${device.deviceKey}`,
    Mqtt,
  );
  await client.setOptions({ ca: sim.rootPem });
  await client.open();
  return client;
}

export function deviceSas(device: ProvisionedDevice): string {
  return createSasToken(`${device.assignedHub}/devices/${device.deviceId}`, device.deviceKey);
}

/** A raw MQTT 3.1.1 client to the simulator's hub, as `clientId` (user name built from it), and its CONNACK. */
export function rawHub(
  sim: TestSim,
  options: { clientId: string; password?: string; clean?: boolean } & Partial<IClientOptions>,
): Promise<MqttClient & { sessionPresent: boolean }> {
  const hub = sim.config.hubs[0];
  if (hub === undefined) throw new Error("no hub in sim.json");
  const client = connect(`mqtts://127.0.0.1:${hub.port}`, {
    username: `${hub.hostname}/${options.clientId}/?api-version=2021-04-12`,
    ca: sim.rootPem,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...options,
  });
  return new Promise((resolve, reject) => {
    client.once("connect", (connack) =>
      resolve(Object.assign(client, { sessionPresent: connack.sessionPresent })),
    );
    client.once("error", reject);
  });
}

export interface DeviceConnection {
  connectionState: string;
  subscriptions: string[];
}

export function deviceConnection(sim: TestSim, deviceId: string): Promise<DeviceConnection> {
  return sim.admin.get<DeviceConnection>(`/admin/devices/${encodeURIComponent(deviceId)}`);
}
