import { X509Certificate } from "node:crypto";
import { deriveDeviceKey, symmetricKeyAttestation } from "@skittlesorter/attestation";
import {
  createCertificateAuthority,
  createCsr,
  generateKeyPair,
  issueCertificate,
  privateKeyToPem,
} from "@skittlesorter/csr";
import { provision } from "@skittlesorter/dps-mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HttpsAnswer, httpsRequest } from "../net/https.test-support.ts";
import { sasFor, startTestSim, type TestSim } from "../sim.test-support.ts";
import { TEST_X509_GROUP } from "../testing/index.ts";
import { testCa } from "../testing/test-ca.ts";

const SEVEN_DIGITS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/;

interface Credentials {
  sas?: string;
  cert?: string;
  key?: string;
}

// The DPS device runtime over HTTPS (what azure-iot-provisioning-device-http and microcontroller SDKs send), on the
// simulator's HTTPS port with its trusted root.
describe("DPS over HTTPS", () => {
  let sim: TestSim;

  const url = (path: string, apiVersion = "2025-07-01-preview", idScope = sim.config.idScope): string =>
    `${sim.config.https.url}/${idScope}/registrations/${path}?api-version=${apiVersion}`;
  const auth = (credentials: Credentials) => ({
    ca: sim.rootPem,
    headers: credentials.sas === undefined ? {} : { authorization: credentials.sas },
    ...(credentials.cert === undefined ? {} : { cert: credentials.cert, key: credentials.key ?? "" }),
  });
  const register = (registrationId: string, credentials: Credentials, body: unknown, apiVersion?: string) =>
    httpsRequest(url(`${registrationId}/register`, apiVersion), {
      method: "PUT",
      body,
      ...auth(credentials),
    });
  /** Registers, then polls the operation as the SDKs do (honouring nothing: the delay is 0) until it is done. */
  const registerUntilDone = async (
    registrationId: string,
    credentials: Credentials,
    body: unknown,
    apiVersion?: string,
  ): Promise<HttpsAnswer> => {
    const accepted = await register(registrationId, credentials, body, apiVersion);
    expect(accepted).toMatchObject({ status: 202, body: { status: "assigning" } });
    expect(accepted.headers["retry-after"]).toMatch(/^\d+$/);
    const { operationId } = accepted.body as { operationId: string };
    let answer: HttpsAnswer;
    do {
      answer = await httpsRequest(
        url(`${registrationId}/operations/${operationId}`, apiVersion),
        auth(credentials),
      );
    } while (answer.status === 202);
    return answer;
  };
  const groupSas = (registrationId: string): string =>
    sasFor(sim.config, registrationId, deriveDeviceKey(sim.groupKey, registrationId));

  beforeAll(async () => {
    sim = await startTestSim();
  });

  afterAll(async () => {
    await sim?.close();
  });

  it("assigns a symmetric-key device (SAS in Authorization) and issues its CSR from the same policy as over MQTT", async () => {
    const overMqtt = "csr-over-mqtt";
    const mqttKey = await generateKeyPair("ec-p384");
    const mqtt = await provision({
      host: sim.config.dps.host,
      port: sim.config.dps.port,
      idScope: sim.config.idScope,
      attestation: symmetricKeyAttestation({ registrationId: overMqtt, groupKey: sim.groupKey }),
      csr: { wire: (await createCsr(overMqtt, mqttKey)).wire, publicKey: mqttKey.publicKey },
      ca: sim.rootPem,
      minRetryAfterMs: 0,
      maxRetryAfterMs: 50,
      timeoutMs: 20_000,
    });

    const overHttps = "csr-over-https";
    const httpsKey = await generateKeyPair("ec-p384");
    const csr = (await createCsr(overHttps, httpsKey)).wire;
    const done = await registerUntilDone(
      overHttps,
      { sas: groupSas(overHttps) },
      { registrationId: overHttps, csr, payload: { colour: "red" } },
    );
    expect(done.status).toBe(200);
    const state = (done.body as { registrationState: Record<string, unknown> }).registrationState;
    expect(state).toMatchObject({
      registrationId: overHttps,
      deviceId: overHttps,
      status: "assigned",
      substatus: "initialAssignment",
      assignedHub: sim.config.hubs[0]?.hostname,
      symmetricKey: { enrollmentGroupId: "skittlesorter" },
    });
    expect(state.createdDateTimeUtc).toMatch(SEVEN_DIGITS);
    expect(state.lastUpdatedDateTimeUtc).toMatch(SEVEN_DIGITS);

    const chain = (state.issuedCertificateChain as string[]).map(
      (der) => new X509Certificate(Buffer.from(der, "base64")),
    );
    const mqttChain = mqtt.issuedCertificateChain?.pems.map((pem) => new X509Certificate(pem)) ?? [];
    expect(chain).toHaveLength(3);
    expect(mqttChain).toHaveLength(3);
    expect(chain[0]?.subject).toBe(`CN=${overHttps}`);
    expect(chain[0]?.publicKey.equals(httpsKey.publicKey)).toBe(true);
    // One policy: the same issuing CA and root signed both devices' certificates.
    expect(chain[1]?.fingerprint256).toBe(mqttChain[1]?.fingerprint256);
    expect(chain[2]?.fingerprint256).toBe(mqttChain[2]?.fingerprint256);
    expect(chain[0]?.verify(chain[1]?.publicKey ?? httpsKey.publicKey)).toBe(true);

    const issued = await sim.admin.get<{ registrationId: string }[]>("/admin/issued-certificates");
    expect(issued.map((item) => item.registrationId)).toEqual(expect.arrayContaining([overMqtt, overHttps]));
  });

  it("assigns an X.509 device by its TLS client certificate alone (no Authorization), with every api-version", async () => {
    const ca = await testCa(sim.admin);
    for (const apiVersion of ["2019-03-31", "2021-06-01", "2025-07-01-preview"]) {
      const registrationId = `x509-https-${apiVersion.slice(0, 4)}`;
      const keyPair = await generateKeyPair("ec-p256");
      const leaf = await issueCertificate({
        publicKey: keyPair.publicKey,
        commonName: registrationId,
        issuer: ca,
        validityDays: 30,
        extendedKeyUsage: ["clientAuth"],
      });
      const credentials = { cert: leaf, key: privateKeyToPem(keyPair.privateKey) };
      const done = await registerUntilDone(registrationId, credentials, { registrationId }, apiVersion);
      expect(done).toMatchObject({
        status: 200,
        body: {
          status: "assigned",
          registrationState: {
            registrationId,
            status: "assigned",
            x509: { enrollmentGroupId: TEST_X509_GROUP },
          },
        },
      });
    }
  });

  it("answers refusals with Azure's short messages and the explanation in info, the log and the events", async () => {
    const id = "https-refused";
    const refused = async (
      answer: Promise<HttpsAnswer>,
      status: number,
      errorCode: number,
      message: string,
    ) => {
      const { status: got, body } = await answer;
      expect(got).toBe(status);
      expect(body).toMatchObject({ errorCode, message, trackingId: expect.any(String) });
      const { timestampUtc, info } = body as { timestampUtc: string; info: { explanation: string } };
      expect(timestampUtc).toMatch(SEVEN_DIGITS);
      return info.explanation;
    };
    const forged = sasFor(sim.config, id, Buffer.alloc(32, 7).toString("base64"));
    expect(
      await refused(register(id, { sas: forged }, { registrationId: id }), 401, 401002, "Unauthorized"),
    ).toMatch(/signed with a key of no enrollment/);
    expect(await refused(register(id, {}, { registrationId: id }), 401, 401002, "Unauthorized")).toMatch(
      /neither a SAS token .* nor a TLS client certificate/,
    );
    const stranger = await createCertificateAuthority({
      commonName: "stranger",
      keyType: "ec-p256",
      validityDays: 1,
    });
    const keyPair = await generateKeyPair("ec-p256");
    const leaf = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: id,
      issuer: stranger,
      validityDays: 1,
      extendedKeyUsage: ["clientAuth"],
    });
    const cert = { cert: leaf, key: privateKeyToPem(keyPair.privateKey) };
    expect(
      await refused(register(id, cert, { registrationId: id }), 401, 401002, "Invalid certificate."),
    ).toMatch(/reaches no uploaded CA/);
    expect(
      await refused(
        register(id, { sas: groupSas(id) }, { registrationId: id }, "2018-11-01"),
        400,
        400001,
        "Unsupported api-version.",
      ),
    ).toMatch(/use one of 2019-03-31, 2021-06-01, 2025-07-01-preview/);
    const wrongScope = httpsRequest(url(`${id}/register`, undefined, "0ne99999999"), {
      method: "PUT",
      body: { registrationId: id },
      ...auth({ sas: groupSas(id) }),
    });
    expect(await refused(wrongScope, 401, 401002, "Unauthorized")).toMatch(/ID scope "0ne99999999"/);
    const unknownOperation = httpsRequest(url(`${id}/operations/4.0000.nope`), auth({ sas: groupSas(id) }));
    expect(await refused(unknownOperation, 404, 404001, "Operation not found.")).toMatch(/not found/);

    const events =
      await sim.admin.get<{ kind: string; subject: string; details: { message?: string } }[]>(
        "/admin/events?limit=1000",
      );
    const rejected = events.find((event) => event.kind === "registration.rejected" && event.subject === id);
    expect(rejected?.details.message).toMatch(/signed with a key of no enrollment/);
  });
});

describe("DPS over HTTPS registration quota", () => {
  it("answers register requests beyond the quota with 429 and retry-after, as over MQTT", async () => {
    const sim = await startTestSim();
    try {
      await sim.admin.request("PATCH", "/admin/settings", { body: { registrationsPerMinute: 1 } });
      const registrationId = "https-throttled";
      const register = () =>
        httpsRequest(
          `${sim.config.https.url}/${sim.config.idScope}/registrations/${registrationId}/register?api-version=2021-06-01`,
          {
            method: "PUT",
            ca: sim.rootPem,
            headers: {
              authorization: sasFor(
                sim.config,
                registrationId,
                deriveDeviceKey(sim.groupKey, registrationId),
              ),
            },
            body: { registrationId },
          },
        );
      expect((await register()).status).toBe(202);
      const throttled = await register();
      expect(throttled).toMatchObject({
        status: 429,
        body: {
          errorCode: 429001,
          message: "Too many requests.",
          info: { explanation: expect.stringContaining("quota is 1 per minute") },
        },
      });
      expect(throttled.headers["retry-after"]).toMatch(/^[1-9]\d*$/);
    } finally {
      await sim.close();
    }
  });
});
