// The DPS service REST API over real HTTPS (sim.config.https.url), signed as azure-iot-provisioning-service signs.
import { createHash } from "node:crypto";
import { createSasToken, deriveDeviceKey } from "@skittlesorter/attestation";
import { createCertificateAuthority } from "@skittlesorter/csr";
import { tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSim, type TestSim } from "../../sim.test-support.ts";
import { startSimulator } from "../../simulator.ts";
import { provisionDevice } from "../../testing/index.ts";
import { testCa } from "../../testing/test-ca.ts";
import { connectionStringParts, serviceClient } from "./service-api.test-support.ts";

const keyOf = (id: string) => createHash("sha256").update(id).digest("base64");
const symmetric = (id: string) => ({
  type: "symmetricKey",
  symmetricKey: { primaryKey: keyOf(id), secondaryKey: keyOf(`${id}-2`) },
});

describe("DPS service REST", () => {
  let sim: TestSim;
  let call: ReturnType<typeof serviceClient>;

  beforeAll(async () => {
    sim = await startTestSim();
    call = serviceClient(sim.config);
  });
  afterAll(() => sim.close());

  it("publishes a provisioningserviceowner connection string and refuses other tokens with DPS's 401 body", async () => {
    const { hostName, keyName, key } = connectionStringParts(sim.config);
    expect(hostName).toBe(new URL(sim.config.https.url).host);
    expect(keyName).toBe("provisioningserviceowner");
    expect(Buffer.from(key, "base64")).toHaveLength(64);
    expect((await call("GET", "/enrollments/nobody")).status).toBe(404);

    const forged = createSasToken(hostName, keyOf("wrong"), { keyName });
    const expired = createSasToken(hostName, key, { keyName, expiresAt: 1_000_000 });
    const otherPolicy = createSasToken(hostName, key, { keyName: "registryRead" });
    for (const token of [null, forged, expired, otherPolicy, "SharedAccessSignature nonsense"]) {
      const answer = await serviceClient(sim.config, token)("GET", "/enrollments/nobody");
      expect(answer.status).toBe(401);
      expect(answer.headers["content-type"]).toMatch(/^application\/json/);
      expect(answer.body).toMatchObject({ errorCode: 401002, message: "Unauthorized" });
      const body = answer.body as { trackingId: string; timestampUtc: string; info: { explanation: string } };
      expect(body.trackingId).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(body.timestampUtc)).not.toBeNaN();
      expect(JSON.stringify(body)).not.toContain(key);
    }
  });

  it("creates, reads, updates with If-Match and deletes individual enrollments", async () => {
    const created = await call("PUT", "/enrollments/Device-One", {
      body: { registrationId: "device-one", attestation: symmetric("device-one"), deviceId: "dev-1" },
    });
    expect(created.status).toBe(200);
    const enrollment = created.body as Record<string, unknown> & { etag: string };
    expect(enrollment).toMatchObject({
      registrationId: "device-one",
      deviceId: "dev-1",
      attestation: symmetric("device-one"),
      provisioningStatus: "enabled",
      allocationPolicy: "hashed",
      reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
      capabilities: { iotEdge: false },
    });
    expect((await call("GET", "/enrollments/device-one")).body).toEqual(enrollment);

    const stale = await call("PUT", "/enrollments/device-one", {
      body: { ...enrollment, provisioningStatus: "disabled", etag: "stale" },
      headers: { "if-match": "stale" },
    });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ errorCode: 412002, message: "Precondition failed" });
    const updated = await call("PUT", "/enrollments/device-one", {
      body: { ...enrollment, provisioningStatus: "disabled" },
      headers: { "if-match": enrollment.etag },
    });
    expect(updated.body).toMatchObject({
      provisioningStatus: "disabled",
      attestation: symmetric("device-one"),
    });
    expect((updated.body as { etag: string }).etag).not.toBe(enrollment.etag);

    expect(
      (await call("DELETE", "/enrollments/device-one", { headers: { "if-match": enrollment.etag } })).status,
    ).toBe(412);
    const etag = (updated.body as { etag: string }).etag;
    expect((await call("DELETE", "/enrollments/device-one", { headers: { "if-match": etag } })).status).toBe(
      204,
    );
    const gone = await call("GET", "/enrollments/device-one");
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ errorCode: 404201, message: "Not found" });
  });

  it("keeps X.509 individual enrollments by certificate and generates keys left empty", async () => {
    const ca = await createCertificateAuthority({
      commonName: "device cert",
      keyType: "ec-p256",
      validityDays: 5,
    });
    const x509 = await call("PUT", "/enrollments/x509-device", {
      body: {
        registrationId: "x509-device",
        attestation: {
          type: "x509",
          x509: { clientCertificates: { primary: { certificate: ca.certificatePem } } },
        },
      },
    });
    expect(x509.status).toBe(200);
    const info = (
      x509.body as {
        attestation: { x509: { clientCertificates: { primary: { info: Record<string, string> } } } };
      }
    ).attestation.x509.clientCertificates.primary.info;
    expect(info.sha256Thumbprint).toMatch(/^[0-9A-F]{64}$/);
    // A read-modify-write round trip keeps the certificate (DPS answers only its info).
    const again = await call("PUT", "/enrollments/x509-device", {
      body: { ...(x509.body as object), provisioningStatus: "disabled" },
    });
    expect(again.body).toMatchObject({
      provisioningStatus: "disabled",
      attestation: (x509.body as { attestation: unknown }).attestation,
    });

    const generated = await call("PUT", "/enrollments/keyless", {
      body: {
        registrationId: "keyless",
        attestation: { type: "symmetricKey", symmetricKey: { primaryKey: "", secondaryKey: "" } },
      },
    });
    const keys = (generated.body as { attestation: { symmetricKey: Record<string, string> } }).attestation
      .symmetricKey;
    expect(Buffer.from(keys.primaryKey ?? "", "base64")).toHaveLength(64);
    const mechanism = await call("POST", "/enrollments/keyless/attestationmechanism");
    expect(mechanism.body).toEqual({ type: "symmetricKey", symmetricKey: keys });
  });

  it("manages enrollment groups with symmetric keys, CA references and signing certificates", async () => {
    const ca = await testCa(sim.admin);
    const referenced = await call("PUT", "/enrollmentGroups/by-reference", {
      body: {
        enrollmentGroupId: "by-reference",
        attestation: { type: "x509", x509: { caReferences: { primary: "skittle-sim-testing-ca" } } },
        initialTwin: { tags: { line: "a" }, properties: { desired: { speed: 2 } } },
      },
    });
    expect(referenced.status).toBe(200);
    expect(referenced.body).toMatchObject({
      enrollmentGroupId: "by-reference",
      attestation: {
        type: "x509",
        x509: { caReferences: { primary: "skittle-sim-testing-ca", secondary: null } },
      },
      initialTwin: { tags: { line: "a" }, properties: { desired: { speed: 2 } } },
    });
    const unknownCa = await call("PUT", "/enrollmentGroups/unknown-ca", {
      body: { attestation: { type: "x509", x509: { caReferences: { primary: "not-uploaded" } } } },
    });
    expect(unknownCa.status).toBe(404);
    expect((unknownCa.body as { info: { explanation: string } }).info.explanation).toContain("not-uploaded");

    const signing = await call("PUT", "/enrollmentGroups/by-certificate", {
      body: {
        attestation: {
          type: "x509",
          x509: { signingCertificates: { primary: { certificate: ca.certificatePem } } },
        },
      },
    });
    expect(signing.body).toMatchObject({
      attestation: {
        x509: { signingCertificates: { primary: { info: { subjectName: "CN=skittle-sim testing CA" } } } },
      },
    });
    const group = await call("PUT", "/enrollmentGroups/keyed", { body: { attestation: symmetric("keyed") } });
    expect((await call("POST", "/enrollmentgroups/keyed/attestationmechanism")).body).toEqual(
      symmetric("keyed"),
    );
    const etag = (group.body as { etag: string }).etag;
    expect(
      (await call("DELETE", "/enrollmentGroups/keyed", { headers: { "if-match": `"${etag}"` } })).status,
    ).toBe(204);
    // The admin API reads the same enrollments.
    expect(await sim.admin.getEnrollment("group", "by-reference")).toMatchObject({
      attestation: { type: "x509", caName: "skittle-sim-testing-ca" },
      initialTwin: { tags: { line: "a" }, properties: { desired: { speed: 2 } } },
    });
  });

  it("pages queries with x-ms-max-item-count and x-ms-continuation", async () => {
    for (const id of ["page-a", "page-b", "page-c"]) {
      await call("PUT", `/enrollments/${id}`, { body: { attestation: symmetric(id) } });
    }
    const seen: string[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const page = await call("POST", "/enrollments/query", {
        body: { query: "SELECT *" },
        headers: {
          "x-ms-max-item-count": "2",
          ...(continuation === undefined ? {} : { "x-ms-continuation": continuation }),
        },
      });
      expect(page.status).toBe(200);
      expect(page.headers["x-ms-item-type"]).toBe("Enrollment");
      seen.push(...(page.body as { registrationId: string }[]).map((item) => item.registrationId));
      continuation = page.headers["x-ms-continuation"] as string | undefined;
      pages++;
    } while (continuation !== undefined);
    expect(seen).toEqual(expect.arrayContaining(["page-a", "page-b", "page-c"]));
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBe(Math.ceil(seen.length / 2));
    const refused = await call("POST", "/enrollments/query", {
      body: { query: "SELECT * FROM enrollments WHERE x = 1" },
    });
    expect(refused.status).toBe(400);
  });

  it("runs bulk operations and answers per-enrollment errors", async () => {
    const enrollments = ["bulk-1", "bulk-2"].map((id) => ({
      registrationId: id,
      attestation: symmetric(id),
    }));
    const created = await call("POST", "/enrollments/", { body: { mode: "create", enrollments } });
    expect(created.body).toEqual({ isSuccessful: true, errors: [] });
    const again = await call("POST", "/enrollments/", { body: { mode: "create", enrollments } });
    expect(again.body).toMatchObject({
      isSuccessful: false,
      errors: [
        { registrationId: "bulk-1", errorCode: 409201 },
        { registrationId: "bulk-2", errorCode: 409201 },
      ],
    });
    const stale = await call("POST", "/enrollments/", {
      body: { mode: "updateIfMatchETag", enrollments: [{ ...enrollments[0], etag: "old" }] },
    });
    expect(stale.body).toMatchObject({
      isSuccessful: false,
      errors: [{ registrationId: "bulk-1", errorCode: 412002 }],
    });
    const deleted = await call("POST", "/enrollments/", { body: { mode: "delete", enrollments } });
    expect(deleted.body).toEqual({ isSuccessful: true, errors: [] });
    expect((await call("GET", "/enrollments/bulk-2")).status).toBe(404);
    expect((await call("POST", "/enrollments/", { body: { mode: "upsert", enrollments } })).status).toBe(400);
  });

  it("answers registration states: get, query by group, delete", async () => {
    await call("PUT", "/enrollmentGroups/floor-2", { body: { attestation: symmetric("floor-2") } });
    const device = await provisionDevice(sim, { registrationId: "sensor-7", groupKey: keyOf("floor-2") });
    const state = await call("GET", "/registrations/sensor-7");
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({
      registrationId: "sensor-7",
      deviceId: "sensor-7",
      assignedHub: device.assignedHub,
      status: "assigned",
      substatus: "initialAssignment",
    });
    const listed = await call("POST", "/registrations/floor-2/query", { body: { query: "SELECT *" } });
    expect(listed.headers["x-ms-item-type"]).toBe("DeviceRegistration");
    expect(listed.body).toEqual([state.body]);
    expect(
      (await call("DELETE", "/registrations/sensor-7", { headers: { "if-match": "other" } })).status,
    ).toBe(412);
    expect((await call("DELETE", "/registrations/sensor-7")).status).toBe(204);
    expect((await call("GET", "/registrations/sensor-7")).status).toBe(404);
    expect(deriveDeviceKey(keyOf("floor-2"), "sensor-7")).toBe(device.deviceKey);
  });
});

describe("the provisioningserviceowner key", () => {
  it("is made at first start and kept across restarts", async () => {
    await using dir = await tempDir("skittle-sim-service-key-");
    const options = { dataDir: dir.path, dpsPort: 0, dpsWsPort: 0, hubPort: 0, httpPort: 0, httpsPort: 0 };
    const first = await startSimulator(options);
    const connectionString = first.config.dps.serviceConnectionString;
    await first.close();
    const second = await startSimulator(options);
    try {
      expect(connectionStringParts(second.config).key).toBe(connectionStringParts(first.config).key);
      expect(connectionString).toContain("SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=");
    } finally {
      await second.close();
    }
  });
});
