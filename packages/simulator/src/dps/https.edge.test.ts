// Issue 17's acceptance: the unmodified `azure-iot-provisioning-device-http` client provisions against `localhost`
// (port 443, the only one it can dial), with a symmetric key and with an X.509 certificate (TLS client
// certificate, no Authorization header). The root is trusted through NODE_EXTRA_CA_CERTS, as users do.
import { deriveDeviceKey } from "@skittlesorter/attestation";
import { generateKeyPair, issueCertificate, privateKeyToPem } from "@skittlesorter/csr";
import { edgeTlsRoot } from "@skittlesorter/test-utils/edge";
import { ProvisioningDeviceClient, type RegistrationResult } from "azure-iot-provisioning-device";
import { Http } from "azure-iot-provisioning-device-http";
import { SymmetricKeySecurityClient } from "azure-iot-security-symmetric-key";
import { X509Security } from "azure-iot-security-x509";
import { describe, expect, it } from "vitest";
import { startEdgeSimulator, TEST_X509_GROUP } from "../testing/index.ts";
import { testCa } from "../testing/test-ca.ts";

/** The security clients' own azure-iot-common differs from the provisioning client's: same shape, other declarations. */
type SecurityClient = Parameters<typeof ProvisioningDeviceClient.create>[3];

interface RegistrationView {
  assignedHub: string;
  attestationType: string;
  enrollmentId: string;
}

describe("DPS over HTTPS in edge mode with azure-iot-provisioning-device-http", () => {
  it("provisions with a symmetric key (SAS in Authorization) and with X.509 (client certificate)", {
    timeout: 90_000,
  }, async () => {
    await using sim = await startEdgeSimulator({ tlsRoot: edgeTlsRoot() });
    const groupKey = sim.config.enrollmentGroups[0]?.primaryKey ?? "";

    const sasId = "edge-http-sas";
    const sasClient = ProvisioningDeviceClient.create(
      "localhost",
      sim.config.idScope,
      new Http(),
      new SymmetricKeySecurityClient(sasId, deriveDeviceKey(groupKey, sasId)) as unknown as SecurityClient,
    );
    const bySas = (await sasClient.register()) as RegistrationResult;
    expect(bySas).toMatchObject({ assignedHub: "localhost", deviceId: sasId, status: "assigned" });
    expect((await sim.admin.get<RegistrationView>(`/admin/registrations/${sasId}`)).assignedHub).toBe(
      "localhost",
    );

    const x509Id = "edge-http-x509";
    const ca = await testCa(sim.admin);
    const keyPair = await generateKeyPair("ec-p256");
    const cert = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: x509Id,
      issuer: ca,
      validityDays: 30,
      extendedKeyUsage: ["clientAuth"],
    });
    const x509Client = ProvisioningDeviceClient.create(
      "localhost",
      sim.config.idScope,
      new Http(),
      new X509Security(x509Id, {
        cert,
        key: privateKeyToPem(keyPair.privateKey),
      }) as unknown as SecurityClient,
    );
    const byX509 = (await x509Client.register()) as RegistrationResult;
    expect(byX509).toMatchObject({ assignedHub: "localhost", deviceId: x509Id, status: "assigned" });
    expect(await sim.admin.get<RegistrationView>(`/admin/registrations/${x509Id}`)).toMatchObject({
      assignedHub: "localhost",
      attestationType: "x509",
      enrollmentId: TEST_X509_GROUP,
    });
  });
});
