// Issue 16's acceptance: unmodified official device and provisioning clients, host name `localhost`, no port
// anywhere, no `ca` option (the root is trusted through NODE_EXTRA_CA_CERTS, as users do).
import { deriveDeviceKey } from "@skittlesorter/attestation";
import { edgeTlsRoot } from "@skittlesorter/test-utils/edge";
import { Client, Message } from "azure-iot-device";
import { Mqtt, MqttWs } from "azure-iot-device-mqtt";
import { ProvisioningDeviceClient, type RegistrationResult } from "azure-iot-provisioning-device";
import { Mqtt as ProvisioningMqtt, MqttWs as ProvisioningMqttWs } from "azure-iot-provisioning-device-mqtt";
import { SymmetricKeySecurityClient } from "azure-iot-security-symmetric-key";
import { describe, expect, it } from "vitest";
import type { Simulator } from "../simulator.ts";
import { provisionDevice, startEdgeSimulator } from "../testing/index.ts";

const transports = {
  Mqtt: { provisioning: ProvisioningMqtt, device: Mqtt },
  MqttWs: { provisioning: ProvisioningMqttWs, device: MqttWs },
} as const;

function register(
  sim: Simulator,
  registrationId: string,
  via: keyof typeof transports,
): Promise<RegistrationResult> {
  const groupKey = sim.config.enrollmentGroups[0]?.primaryKey ?? "";
  const security = new SymmetricKeySecurityClient(registrationId, deriveDeviceKey(groupKey, registrationId));
  const client = ProvisioningDeviceClient.create(
    "localhost",
    sim.config.idScope,
    new transports[via].provisioning(),
    // The two packages pin different azure-iot-common versions, whose classes TypeScript tells apart.
    security as unknown as Parameters<typeof ProvisioningDeviceClient.create>[3],
  );
  return client.register() as Promise<RegistrationResult>;
}

async function sendOne(
  sim: Simulator,
  connectionString: string,
  via: keyof typeof transports,
  body: string,
  options: { cert?: string; key?: string } = {},
): Promise<void> {
  const client = Client.fromConnectionString(connectionString, transports[via].device);
  if (options.cert !== undefined) await client.setOptions(options);
  await client.open();
  try {
    await client.sendEvent(new Message(body));
  } finally {
    await client.close();
  }
  const bodies = (await sim.admin.listTelemetry()).map((message) => message.body);
  expect(bodies).toContain(body);
}

describe("edge mode with the official clients", () => {
  it.each(["Mqtt", "MqttWs"] as const)(
    "provisioning over %s to `localhost` assigns hub `localhost`; the device client connects there over the same transport",
    { timeout: 90_000 },
    async (via) => {
      await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
      const registrationId = `edge-sdk-${via.toLowerCase()}`;
      const result = await register(sim, registrationId, via);
      expect(result).toMatchObject({ assignedHub: "localhost", deviceId: registrationId });
      expect(sim.config.hubs.map((hub) => hub.hostname)).toEqual(["localhost"]);
      const groupKey = sim.config.enrollmentGroups[0]?.primaryKey ?? "";
      const connectionString =
        `HostName=${result.assignedHub};DeviceId=${result.deviceId};` +
        `SharedAccessKey=${deriveDeviceKey(groupKey, registrationId)}`;
      await sendOne(sim, connectionString, via, JSON.stringify({ via }));
    },
  );

  it("an X.509 device (certificate issued by DPS) connects over MqttWs: 443 asks for the client certificate", {
    timeout: 90_000,
  }, async () => {
    await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    const device = await provisionDevice(sim, { registrationId: "edge-x509-ws", csr: true });
    expect(device).toMatchObject({ auth: "x509", assignedHub: "localhost" });
    await sendOne(sim, device.connectionString, "MqttWs", "x509 over websocket", {
      cert: device.certificateChainPem ?? "",
      key: device.privateKeyPem ?? "",
    });
  });
});
