// Issue 17's acceptance: the unmodified azure-iot-provisioning-service SDK against the simulator in edge mode
// (`HostName=localhost`, port 443, the root trusted through NODE_EXTRA_CA_CERTS): enrollment groups, individual
// enrollments, registration states, and a device provisioning against an enrollment the SDK created.
import { createHash } from "node:crypto";
import { deriveDeviceKey } from "@skittlesorter/attestation";
import { edgeTlsRoot } from "@skittlesorter/test-utils/edge";
import { ProvisioningDeviceClient, type RegistrationResult } from "azure-iot-provisioning-device";
import { Mqtt as ProvisioningMqtt } from "azure-iot-provisioning-device-mqtt";
import { ProvisioningServiceClient } from "azure-iot-provisioning-service";
import { SymmetricKeySecurityClient } from "azure-iot-security-symmetric-key";
import { describe, expect, it } from "vitest";
import type { Simulator } from "../../simulator.ts";
import { startEdgeSimulator } from "../../testing/index.ts";

const keyOf = (id: string) => createHash("sha256").update(id).digest("base64");

function register(sim: Simulator, registrationId: string, deviceKey: string): Promise<RegistrationResult> {
  const security = new SymmetricKeySecurityClient(registrationId, deviceKey);
  const client = ProvisioningDeviceClient.create(
    "localhost",
    sim.config.idScope,
    new ProvisioningMqtt(),
    // The two packages pin different azure-iot-common versions, whose classes TypeScript tells apart.
    security as unknown as Parameters<typeof ProvisioningDeviceClient.create>[3],
  );
  return client.register() as Promise<RegistrationResult>;
}

describe("azure-iot-provisioning-service against edge mode", () => {
  it("creates, gets, updates and deletes enrollment groups; a device provisions against one; registration states", {
    timeout: 90_000,
  }, async () => {
    await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    expect(sim.config.dps.serviceConnectionString).toMatch(
      /^HostName=localhost;SharedAccessKeyName=provisioningserviceowner;/,
    );
    const service = ProvisioningServiceClient.fromConnectionString(sim.config.dps.serviceConnectionString);

    const created = await service.createOrUpdateEnrollmentGroup({
      enrollmentGroupId: "sdk-group",
      attestation: {
        type: "symmetricKey",
        symmetricKey: { primaryKey: keyOf("p"), secondaryKey: keyOf("s") },
      },
      provisioningStatus: "enabled",
      initialTwin: { tags: { origin: "sdk" }, properties: { desired: { rate: 10 } } },
    } as never);
    const group = created.responseBody as unknown as { etag: string; provisioningStatus: string };
    expect(group).toMatchObject({ enrollmentGroupId: "sdk-group", provisioningStatus: "enabled" });
    const read = (await service.getEnrollmentGroup("sdk-group")).responseBody as unknown as { etag: string };
    expect(read.etag).toBe(group.etag);

    const disabled = await service.createOrUpdateEnrollmentGroup({
      ...read,
      provisioningStatus: "disabled",
    } as never);
    expect(disabled.responseBody).toMatchObject({ provisioningStatus: "disabled" });
    await expect(
      service.createOrUpdateEnrollmentGroup({ ...read, provisioningStatus: "enabled" } as never),
    ).rejects.toMatchObject({
      name: "InvalidEtagError",
    });
    const enabled = await service.createOrUpdateEnrollmentGroup({
      ...(disabled.responseBody as object),
      provisioningStatus: "enabled",
    } as never);

    const registrationId = "sdk-device";
    const result = await register(sim, registrationId, deriveDeviceKey(keyOf("p"), registrationId));
    expect(result).toMatchObject({ assignedHub: "localhost", deviceId: registrationId, status: "assigned" });
    expect((await sim.admin.getTwin(registrationId)).tags).toEqual({ origin: "sdk" });

    const state = (await service.getDeviceRegistrationState(registrationId)).responseBody;
    expect(state).toMatchObject({ registrationId, assignedHub: "localhost", status: "assigned" });
    const query = service.createEnrollmentGroupDeviceRegistrationStateQuery(
      { query: "SELECT *" },
      "sdk-group",
    );
    const page = await new Promise<unknown[]>((resolve, reject) =>
      query.next((error, items) => (error ? reject(error) : resolve(items as unknown as unknown[]))),
    );
    expect(page).toEqual([state]);
    await service.deleteDeviceRegistrationState(registrationId);
    await expect(service.getDeviceRegistrationState(registrationId)).rejects.toMatchObject({
      response: { statusCode: 404 },
    });

    await service.deleteEnrollmentGroup(
      "sdk-group",
      (enabled.responseBody as unknown as { etag: string }).etag,
    );
    await expect(service.getEnrollmentGroup("sdk-group")).rejects.toMatchObject({
      response: { statusCode: 404 },
    });
  });

  it("creates, gets, updates and deletes individual enrollments, and runs a bulk operation", {
    timeout: 90_000,
  }, async () => {
    await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    const service = ProvisioningServiceClient.fromConnectionString(sim.config.dps.serviceConnectionString);
    const created = await service.createOrUpdateIndividualEnrollment({
      registrationId: "sdk-individual",
      deviceId: "sdk-individual-device",
      attestation: {
        type: "symmetricKey",
        symmetricKey: { primaryKey: keyOf("i1"), secondaryKey: keyOf("i2") },
      },
    } as never);
    expect(created.responseBody).toMatchObject({
      registrationId: "sdk-individual",
      deviceId: "sdk-individual-device",
    });
    const read = (await service.getIndividualEnrollment("sdk-individual")).responseBody;
    const updated = await service.createOrUpdateIndividualEnrollment({
      ...read,
      reprovisionPolicy: { updateHubAssignment: false, migrateDeviceData: true },
    });
    expect(updated.responseBody).toMatchObject({ reprovisionPolicy: { updateHubAssignment: false } });

    const result = await register(sim, "sdk-individual", keyOf("i1"));
    expect(result).toMatchObject({ assignedHub: "localhost", deviceId: "sdk-individual-device" });

    await service.deleteIndividualEnrollment(updated.responseBody);
    await expect(service.getIndividualEnrollment("sdk-individual")).rejects.toMatchObject({
      response: { statusCode: 404 },
    });

    // runBulkEnrollmentOperation's promise never settles in 1.11.2: the callback form works.
    const bulk = await new Promise<unknown>((resolve, reject) =>
      service.runBulkEnrollmentOperation(
        {
          mode: "create",
          enrollments: [
            { registrationId: "bulk-sdk", attestation: { type: "symmetricKey", symmetricKey: {} } },
          ],
        } as never,
        (error, body) => (error ? reject(error) : resolve(body)),
      ),
    );
    expect(bulk).toEqual({ isSuccessful: true, errors: [] });
    expect((await service.getIndividualEnrollment("bulk-sdk")).responseBody).toMatchObject({
      registrationId: "bulk-sdk",
    });
  });
});
