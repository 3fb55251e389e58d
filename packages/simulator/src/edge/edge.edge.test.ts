import { edgeTlsRoot } from "@skittlesorter/test-utils/edge";
import { Client, Message } from "azure-iot-device";
import { Mqtt } from "azure-iot-device-mqtt";
import { describe, expect, it } from "vitest";
import { provisionDevice, startEdgeSimulator } from "../testing/index.ts";

describe("edge mode", () => {
  it("the official device client dials HostName=localhost (8883) with no ca option and sends telemetry", {
    timeout: 60_000,
  }, async () => {
    await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    expect(sim.config).toMatchObject({ edge: true, dps: { endpoint: "localhost", port: 8883 } });
    const device = await provisionDevice(sim, { registrationId: "edge-telemetry-01" });
    expect(device.assignedHub).toBe("localhost");
    expect(device.connectionString).toMatch(
      /^HostName=localhost;DeviceId=edge-telemetry-01;SharedAccessKey=/,
    );
    // No setOptions({ ca }): the client trusts the simulator through NODE_EXTRA_CA_CERTS, as users do.
    const client = Client.fromConnectionString(device.connectionString, Mqtt);
    await client.open();
    try {
      await client.sendEvent(new Message(JSON.stringify({ color: "Red" })));
    } finally {
      await client.close();
    }
    const [message] = await sim.admin.listTelemetry({ device: device.deviceId });
    expect(message?.body).toBe(JSON.stringify({ color: "Red" }));
  });
});
