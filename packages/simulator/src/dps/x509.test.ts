import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  createCertificateAuthority,
  createCsr,
  generateKeyPair,
  type IssuerRef,
  issueCertificate,
  privateKeyToPem,
} from "@skittlesorter/csr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SimulatorError } from "../errors.ts";
import { officialProvision, rawDevice, runCli, startTestSim, type TestSim } from "../sim.test-support.ts";

interface CaView {
  name: string;
  etag: string;
  properties: { isVerified: boolean; verificationCode?: string };
}

async function authority(commonName: string, issuer?: IssuerRef): Promise<IssuerRef> {
  const ca = await createCertificateAuthority({
    commonName,
    keyType: "ec-p256",
    validityDays: 365,
    pathLength: issuer === undefined ? 1 : 0,
    ...(issuer === undefined ? {} : { issuer }),
  });
  return { certificatePem: ca.certificatePem, privateKey: ca.privateKey };
}

async function deviceCertificate(registrationId: string, issuer: IssuerRef, chain: IssuerRef[]) {
  const keyPair = await generateKeyPair("ec-p256");
  const leaf = await issueCertificate({
    publicKey: keyPair.publicKey,
    commonName: registrationId,
    issuer,
    validityDays: 30,
    extendedKeyUsage: ["clientAuth"],
  });
  return {
    cert: [leaf, ...chain.map((item) => item.certificatePem)]
      .map((pem) => pem.trimEnd())
      .join("\n")
      .concat("\n"),
    key: privateKeyToPem(keyPair.privateKey),
  };
}

async function upload(sim: TestSim, name: string, ca: IssuerRef): Promise<CaView> {
  return (
    await sim.admin.request<CaView>("PUT", `/admin/certificates/${name}`, {
      body: { certificate: ca.certificatePem },
    })
  ).body;
}

/** The whole proof-of-possession flow through the admin API. */
async function proveAndVerify(sim: TestSim, name: string, ca: IssuerRef, etag: string): Promise<CaView> {
  const coded = await sim.admin.request<CaView>(
    "POST",
    `/admin/certificates/${name}/generate-verification-code`,
    {
      headers: { "if-match": etag },
    },
  );
  const keyPair = await generateKeyPair("ec-p256");
  const proof = await issueCertificate({
    publicKey: keyPair.publicKey,
    commonName: coded.body.properties.verificationCode ?? "",
    issuer: ca,
    validityDays: 1,
  });
  return (
    await sim.admin.request<CaView>("POST", `/admin/certificates/${name}/verify`, {
      body: { certificate: proof },
      headers: { "if-match": coded.body.etag },
    })
  ).body;
}

describe("X.509 attestation and CA proof of possession", () => {
  let sim: TestSim;
  let root: IssuerRef;
  let intermediate: IssuerRef;
  beforeAll(async () => {
    sim = await startTestSim();
    root = await authority("pop-root");
    intermediate = await authority("pop-intermediate", root);
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("verifies CA certificates by proof of possession (CLI), refusing a wrong code, a foreign signer and a stale etag", async () => {
    const file = join(sim.dir.path, "intermediate.pem");
    await writeFile(file, intermediate.certificatePem);
    const uploaded = await runCli([
      "ca",
      "upload",
      "pop-intermediate",
      file,
      "--data-dir",
      sim.dir.path,
      "--json",
    ]);
    expect(uploaded.code).toBe(0);
    const record = JSON.parse(uploaded.stdout) as CaView;
    expect(record.properties.isVerified).toBe(false);

    const coded = await runCli([
      "ca",
      "verification-code",
      "pop-intermediate",
      "--etag",
      record.etag,
      "--data-dir",
      sim.dir.path,
      "--json",
    ]);
    const withCode = JSON.parse(coded.stdout) as CaView;
    expect(withCode.etag).not.toBe(record.etag);
    const code = withCode.properties.verificationCode ?? "";
    expect(code).toMatch(/^[0-9A-F]{48}$/);

    const keyPair = await generateKeyPair("ec-p256");
    const proofFile = join(sim.dir.path, "proof.pem");
    const tries: [IssuerRef, string, string, RegExp][] = [
      [intermediate, "WRONG-CODE", withCode.etag, /must be the verification code/],
      [
        await authority("someone-else"),
        code,
        withCode.etag,
        /not signed by CA certificate "pop-intermediate"/,
      ],
      [intermediate, code, record.etag, /etag does not match/],
    ];
    for (const [issuer, commonName, etag, message] of tries) {
      await writeFile(
        proofFile,
        await issueCertificate({ publicKey: keyPair.publicKey, commonName, issuer, validityDays: 1 }),
      );
      const refused = await runCli([
        "ca",
        "verify",
        "pop-intermediate",
        proofFile,
        "--etag",
        etag,
        "--data-dir",
        sim.dir.path,
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(message);
    }
    await writeFile(
      proofFile,
      await issueCertificate({
        publicKey: keyPair.publicKey,
        commonName: code,
        issuer: intermediate,
        validityDays: 1,
      }),
    );
    const verified = await runCli([
      "ca",
      "verify",
      "pop-intermediate",
      proofFile,
      "--etag",
      withCode.etag,
      "--data-dir",
      sim.dir.path,
      "--json",
    ]);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ properties: { isVerified: true } });

    const rootRecord = await upload(sim, "pop-root", root);
    expect((await proveAndVerify(sim, "pop-root", root, rootRecord.etag)).properties.isVerified).toBe(true);
    const listed = await runCli(["ca", "list", "--data-dir", sim.dir.path]);
    expect(listed.stdout).toMatch(/pop-intermediate\s+true/);
    expect(listed.stdout).toMatch(/pop-root\s+true/);
  });

  it("provisions the official azure-iot-security-x509 client with a bootstrap chain under the verified CA", async () => {
    await sim.admin.request("PUT", "/admin/enrollment-groups/x509-group", {
      body: { attestation: { type: "x509", caName: "pop-intermediate" }, credentialPolicy: "default" },
    });
    const registrationId = "x509-official-1";
    const device = await deviceCertificate(registrationId, intermediate, [intermediate]);
    const certFile = join(sim.dir.path, "device-chain.pem");
    const keyFile = join(sim.dir.path, "device.key");
    await writeFile(certFile, device.cert);
    await writeFile(keyFile, device.key);
    const outcome = await officialProvision(sim, { registrationId, certFile, keyFile });
    expect(outcome).toMatchObject({
      ok: true,
      result: {
        registrationId,
        deviceId: registrationId,
        status: "assigned",
        assignedHub: sim.config.hubs[0]?.hostname,
        x509: { enrollmentGroupId: "x509-group" },
      },
    });
    const devices =
      await sim.admin.get<{ deviceId: string; authentication: { type: string } }[]>("/admin/devices");
    expect(devices).toContainEqual(
      expect.objectContaining({ deviceId: registrationId, authentication: { type: "certificateAuthority" } }),
    );
  });

  it("issues an operational chain for a CSR sent over an X.509 bootstrap connection", async () => {
    const registrationId = "x509-csr-1";
    const device = await deviceCertificate(registrationId, intermediate, [intermediate]);
    const raw = await rawDevice(sim, { registrationId, cert: device.cert, key: device.key });
    const csr = await createCsr(registrationId, await generateKeyPair("ec-p384"));
    const reply = await raw.registerUntilDone({ registrationId, csr: csr.wire });
    await raw.close();
    expect(reply.status).toBe(200);
    const state = reply.body.registrationState as Record<string, unknown>;
    expect(state).toMatchObject({
      status: "assigned",
      x509: {
        enrollmentGroupId: "x509-group",
        certificateInfo: { subjectName: `CN=${registrationId}` },
        signingCertificateInfo: { subjectName: "CN=pop-intermediate" },
      },
    });
    expect(state.issuedCertificateChain).toHaveLength(3);
  });

  it("refuses chains that reach an unverified CA, reach no CA, or whose CN is not the registration id (401002)", async () => {
    const root2 = await authority("unverified-root");
    const intermediate2 = await authority("verified-intermediate", root2);
    await upload(sim, "unverified-root", root2);
    const inter2 = await upload(sim, "verified-intermediate", intermediate2);
    await proveAndVerify(sim, "verified-intermediate", intermediate2, inter2.etag);
    await sim.admin.request("PUT", "/admin/enrollment-groups/x509-group-2", {
      body: { attestation: { type: "x509", caName: "verified-intermediate" } },
    });
    const stranger = await authority("stranger-root");
    const cases: [string, { cert: string; key: string }, RegExp][] = [
      [
        "x509-unverified",
        await deviceCertificate("x509-unverified", intermediate2, [intermediate2]),
        /"unverified-root" .* is not verified/,
      ],
      ["x509-stranger", await deviceCertificate("x509-stranger", stranger, []), /reaches no uploaded CA/],
      ["x509-cn", await deviceCertificate("another-name", intermediate, [intermediate]), /CN "another-name"/],
    ];
    for (const [registrationId, device, message] of cases) {
      const raw = await rawDevice(sim, { registrationId, cert: device.cert, key: device.key });
      const reply = await raw.register();
      await raw.close();
      expect(reply.status).toBe(401);
      expect(reply.body).toMatchObject({
        errorCode: 401002,
        message: "Invalid certificate.",
        info: { explanation: expect.stringMatching(message) },
      });
    }

    // A group whose own CA is unverified: same answer.
    const root3 = await authority("never-verified");
    await upload(sim, "never-verified", root3);
    await sim.admin.request("PUT", "/admin/enrollment-groups/x509-group-3", {
      body: { attestation: { type: "x509", caName: "never-verified" } },
    });
    const device = await deviceCertificate("x509-never", root3, []);
    const raw = await rawDevice(sim, { registrationId: "x509-never", cert: device.cert, key: device.key });
    const reply = await raw.register();
    await raw.close();
    expect(reply.body).toMatchObject({
      errorCode: 401002,
      info: { reason: "CA_NOT_VERIFIED", certificateName: "never-verified" },
    });
  });

  it("accepts individual X.509 enrollments by certificate thumbprint only", async () => {
    const registrationId = "x509-individual-1";
    const own = await createCertificateAuthority({
      commonName: registrationId,
      keyType: "ec-p256",
      validityDays: 30,
    });
    const certFile = join(sim.dir.path, "self-signed.pem");
    await writeFile(certFile, own.certificatePem);
    const created = await runCli([
      "enrollment",
      "create",
      registrationId,
      "--individual",
      "--attestation",
      "x509",
      "--certificate",
      certFile,
      "--data-dir",
      sim.dir.path,
    ]);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain("individual enrollment x509-individual-1: x509");

    const good = await rawDevice(sim, {
      registrationId,
      cert: own.certificatePem,
      key: privateKeyToPem(own.privateKey),
    });
    const reply = await good.registerUntilDone();
    await good.close();
    expect(reply.body).toMatchObject({
      status: "assigned",
      registrationState: { x509: { certificateInfo: { subjectName: `CN=${registrationId}` } } },
    });

    const other = await createCertificateAuthority({
      commonName: registrationId,
      keyType: "ec-p256",
      validityDays: 30,
    });
    const bad = await rawDevice(sim, {
      registrationId,
      cert: other.certificatePem,
      key: privateKeyToPem(other.privateKey),
    });
    const refused = await bad.register();
    await bad.close();
    expect(refused.body).toMatchObject({ errorCode: 401002, info: { reason: "THUMBPRINT_MISMATCH" } });
  });

  it("deletes a CA certificate only with its etag", async () => {
    const spare = await upload(sim, "spare", await authority("spare"));
    await expect(sim.admin.request("DELETE", "/admin/certificates/spare")).rejects.toMatchObject({
      statusCode: 428,
      errorCode: "ETAG_REQUIRED",
    });
    await expect(
      sim.admin.request("DELETE", "/admin/certificates/spare", { headers: { "if-match": "stale" } }),
    ).rejects.toBeInstanceOf(SimulatorError);
    const deleted = await runCli(["ca", "delete", "spare", "--etag", spare.etag, "--data-dir", sim.dir.path]);
    expect(deleted).toMatchObject({ code: 0, stdout: "deleted spare\n" });
    await expect(sim.admin.get("/admin/certificates/spare")).rejects.toMatchObject({ statusCode: 404 });
  });
});
