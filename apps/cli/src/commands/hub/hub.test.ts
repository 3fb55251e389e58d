import { X509Certificate } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { certificateFacts, readPrivateKeyFile } from "@skittlesorter/csr";
import { type TempDir, tempDir } from "@skittlesorter/test-utils";
import { createTestPki, type TestPki } from "@skittlesorter/test-utils/scripted-dps";
import { type ScriptedHub, startScriptedHub } from "@skittlesorter/test-utils/scripted-hub";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";
import { reportedPatch } from "./twin-command.ts";

// `skittle hub renew` against the scripted IoT Hub of @skittlesorter/test-utils (real MQTT over TLS on loopback),
// which can also script what skittle-sim never does (a hub without certificate management, arbitrary refusals).
// Renewal through skittle-sim itself: hub.sim.test.ts.
describe("skittle hub renew", () => {
  const deviceId = "hub-cli-renew-01";
  let pki: TestPki;
  let hub: ScriptedHub;
  let dir: TempDir;
  let caFile: string;
  let dataDir: string;
  let bootstrap: { certPem: string; keyPem: string };

  beforeAll(async () => {
    pki = await createTestPki();
    hub = await startScriptedHub({ pki, requestCert: true });
    dir = await tempDir("skittle-hub-renew-");
    caFile = join(dir.path, "root.pem");
    await writeFile(caFile, pki.rootPem);
    bootstrap = await pki.deviceCertificate(deviceId);
    // A skittle-sorter data directory as the sorter leaves it.
    dataDir = join(dir.path, "sorter-data");
    await mkdir(join(dataDir, "certs"), { recursive: true });
    await writeFile(join(dataDir, "certs", `${deviceId}.chain.pem`), bootstrap.certPem);
    await writeFile(join(dataDir, "certs", `${deviceId}.key.pem`), bootstrap.keyPem, { mode: 0o600 });
    await writeFile(
      join(dataDir, "certs", `${deviceId}.chain.json`),
      JSON.stringify({
        format: "skittlesorter-device-credentials",
        version: 1,
        registrationId: deviceId,
        deviceId,
        assignedHub: `localhost:${hub.port}`,
      }),
    );
  });

  afterAll(async () => {
    await hub?.close();
    await pki?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  it("renews a sorter's certificate through the hub: a new key (0600) and the issued chain in --out-dir", async () => {
    const outDir = join(dir.path, "renewed");
    const run = await runCli([
      "hub",
      "renew",
      "--data-dir",
      dataDir,
      "--ca",
      caFile,
      "--csr-key-type",
      "ec-p256",
      "--out-dir",
      outDir,
      "--json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      deviceId: string;
      hub: string;
      requestId: string;
      keyType: string;
      certificate: { subject: string; sha256Thumbprint: string };
      files: { privateKey: string; chain: string };
    };
    expect(result).toMatchObject({
      deviceId,
      hub: `localhost:${hub.port}`,
      keyType: "ec-p256",
      certificate: { subject: `CN=${deviceId}` },
      files: {
        privateKey: join(outDir, `${deviceId}.key.pem`),
        chain: join(outDir, `${deviceId}.chain.pem`),
      },
    });
    // Asked over a connection with the sorter's certificate, for the device id of its metadata.
    const request = hub.credentialRequests.at(-1);
    expect(request?.rid).toBe(result.requestId);
    expect(request?.body).toMatchObject({ id: deviceId });
    expect(request?.connection.peerFingerprint256).toBe(
      new X509Certificate(bootstrap.certPem).fingerprint256,
    );

    const chain = await readFile(result.files.chain, "utf8");
    const leaf = certificateFacts(chain);
    expect(leaf.sha256Thumbprint).toBe(result.certificate.sha256Thumbprint);
    const key = await readPrivateKeyFile(result.files.privateKey);
    expect(new X509Certificate(chain).checkPrivateKey(key)).toBe(true);
    expect((await stat(result.files.privateKey)).mode & 0o777).toBe(0o600);
    // The sorter's own files are left alone.
    expect(await readFile(join(dataDir, "certs", `${deviceId}.chain.pem`), "utf8")).toBe(bootstrap.certPem);
  });

  it("renews from --cert/--key/--hub files and prints what it wrote", async () => {
    const certFile = join(dir.path, "device.pem");
    const keyFile = join(dir.path, "device.key");
    await writeFile(certFile, bootstrap.certPem);
    await writeFile(keyFile, bootstrap.keyPem, { mode: 0o600 });
    const run = await runCli(
      [
        "hub",
        "renew",
        "--cert",
        certFile,
        "--key",
        keyFile,
        "--hub",
        `localhost:${hub.port}`,
        "--ca",
        caFile,
      ],
      dir.path,
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`certificate: CN=${deviceId}`);
    expect(run.stdout).toContain(`private key: ${join(dir.path, `${deviceId}.key.pem`)} (ec-p384, new)`);
  });

  it("passes the hub's refusal on with its code", async () => {
    const refusing = await startScriptedHub({
      pki,
      credentials: () => [{ status: 409, body: { errorCode: 409004, message: "busy", trackingId: "t-409" } }],
    });
    try {
      const run = await runCli([
        "hub",
        "renew",
        "--data-dir",
        dataDir,
        "--hub",
        `localhost:${refusing.port}`,
        "--ca",
        caFile,
        "--out-dir",
        join(dir.path, "refused"),
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error \[HUB_REQUEST_REJECTED\]: .*409/m);
    } finally {
      await refusing.close();
    }
  });

  it("says clearly when the hub has no certificate management, and what to do instead", async () => {
    const classic = await startScriptedHub({ pki, refuseSubscriptions: ["$iothub/credentials/res/#"] });
    try {
      const run = await runCli([
        "hub",
        "renew",
        "--data-dir",
        dataDir,
        "--hub",
        `localhost:${classic.port}`,
        "--ca",
        caFile,
        "--out-dir",
        join(dir.path, "unsupported"),
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error \[HUB_RENEWAL_UNSUPPORTED\]: .*skittle provision --csr/m);
      expect(run.stdout).toBe("");
    } finally {
      await classic.close();
    }
  });

  it("says which credentials to pass, and checks the key type", async () => {
    const none = await runCli(["hub", "renew", "--hub", "h"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(
      "--data-dir DIR (a skittle-sorter data directory), or --cert FILE --key FILE",
    );
    const empty = await runCli(["hub", "send", "x", "--data-dir", join(dir.path, "nothing-here")]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("holds no sorter credentials");
    const badType = await runCli(["hub", "renew", "--data-dir", dataDir, "--csr-key-type", "dsa"]);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toContain(
      '--csr-key-type must be one of ec-p384, ec-p256, rsa-2048, rsa-3072, rsa-4096, got "dsa"',
    );
  });
});

describe("--report key=value", () => {
  it("nests dotted keys and parses JSON values", () => {
    expect(reportedPatch(["a.b=1", "a.c=text", "ready=true", "gone=null", "list=[1,2]"])).toEqual({
      a: { b: 1, c: "text" },
      ready: true,
      gone: null,
      list: [1, 2],
    });
  });
});
