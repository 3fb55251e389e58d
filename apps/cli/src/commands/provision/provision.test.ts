import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
// The scripted DPS (aedes behind TLS/WSS on loopback) is shared through @skittlesorter/test-utils.
import {
  createTestPki,
  type ScriptedDps,
  standardDps,
  startScriptedDps,
  type TestPki,
} from "@skittlesorter/test-utils/scripted-dps";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

const ID_SCOPE = "0ne00000A0A";
const GROUP_KEY = Buffer.alloc(64, 9).toString("base64");
const REGISTRATION_ID = "sorter-cli-01";

let pki: TestPki;
let dps: ScriptedDps;
let wssDps: ScriptedDps;
let work: string;
let caFile: string;

beforeAll(async () => {
  pki = await createTestPki();
  dps = await startScriptedDps({
    pki,
    script: standardDps({ pki, assignOnRegister: true }),
    requestCert: true,
  });
  wssDps = await startScriptedDps({
    pki,
    script: standardDps({ pki, assignOnRegister: true }),
    transport: "wss",
  });
  work = await mkdtemp(join(tmpdir(), "skittle-provision-"));
  caFile = join(work, "dps-root.pem");
  await writeFile(caFile, pki.rootPem);
});

afterAll(async () => {
  await Promise.all([dps?.close(), wssDps?.close()]);
  await pki?.[Symbol.asyncDispose]();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

const target = (server: ScriptedDps): string[] => [
  "provision",
  "--host",
  server.host,
  "--port",
  String(server.port),
  "--id-scope",
  ID_SCOPE,
  "--ca",
  caFile,
];

describe("skittle provision", () => {
  it("provisions with a group key and --csr, writing the key (0600) and the issued chain", async () => {
    const outDir = join(work, "out-csr");
    const run = await runCli([
      ...target(dps),
      "--registration-id",
      REGISTRATION_ID,
      "--group-key",
      GROUP_KEY,
      "--csr",
      "--out-dir",
      outDir,
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const keyPath = join(outDir, `${REGISTRATION_ID}.key.pem`);
    const chainPath = join(outDir, `${REGISTRATION_ID}.chain.pem`);
    expect(run.stdout).toContain(`device id:   ${REGISTRATION_ID}`);
    expect(run.stdout).toContain("hub:         skittle-hub.azure-devices.net");
    expect(run.stdout).toContain(keyPath);
    expect(run.stdout).toContain(chainPath);
    expect(run.stdout).toMatch(/certificate: CN=sorter-cli-01, .*valid until \d{4}-/);
    expect(run.stdout).not.toContain(GROUP_KEY);
    expect(run.stdout).not.toContain("PRIVATE KEY");

    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    const bundle = await readFile(chainPath, "utf8");
    const pems = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(pems).toHaveLength(3);
    const leaf = new X509Certificate(pems[0] as string);
    expect(leaf.subject).toBe(`CN=${REGISTRATION_ID}`);
    const { createPrivateKey } = await import("node:crypto");
    const key = createPrivateKey(await readFile(keyPath, "utf8"));
    expect(leaf.checkPrivateKey(key)).toBe(true);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");

    const register = dps.requests.at(-1);
    expect(register?.connection.username).toContain("api-version=2025-07-01-preview");
    expect((register?.body as { csr?: string } | undefined)?.csr).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it("prints the result object with --json (device key, payload, no CSR)", async () => {
    const run = await runCli([
      ...target(dps),
      "--registration-id",
      "sorter-cli-02",
      "--device-key",
      Buffer.alloc(32, 1).toString("base64"),
      "--payload",
      '{"site":"kitchen"}',
      "--json",
    ]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      registrationId: "sorter-cli-02",
      deviceId: "sorter-cli-02",
      assignedHub: "skittle-hub.azure-devices.net",
      status: "assigned",
      payload: { echo: { site: "kitchen" } },
    });
    expect(result.files).toBeUndefined();
    expect(dps.requests.at(-1)?.connection.username).toContain("api-version=2019-03-31");
  });

  it("provisions over WebSocket with --csr-key-type and --json", async () => {
    const outDir = join(work, "out-wss");
    const run = await runCli([
      ...target(wssDps),
      "--websocket",
      "--registration-id",
      "sorter-cli-03",
      "--group-key",
      GROUP_KEY,
      "--csr-key-type",
      "ec-p256",
      "--out-dir",
      outDir,
      "--json",
    ]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      issuedCertificateChain: {
        pems: string[];
        certificates: { commonName: string; keyType: string; notAfter: string }[];
      };
      files: { privateKey: string; chain: string };
    };
    expect(result.issuedCertificateChain.pems).toHaveLength(3);
    expect(result.issuedCertificateChain.certificates[0]).toMatchObject({
      commonName: "sorter-cli-03",
      keyType: "ec-p256",
    });
    expect(result.files.chain).toBe(join(outDir, "sorter-cli-03.chain.pem"));
    expect(wssDps.requests.at(-1)?.connection.clientId).toBe("sorter-cli-03");
  });

  it("provisions with an X.509 onboarding certificate and --csr", async () => {
    const bootstrap = await pki.deviceCertificate("sorter-x509-01");
    const certFile = join(work, "bootstrap.pem");
    const keyFile = join(work, "bootstrap.key");
    const chainFile = join(work, "bootstrap-chain.pem");
    await writeFile(certFile, bootstrap.certPem);
    await writeFile(keyFile, bootstrap.keyPem);
    await writeFile(chainFile, pki.icaPem);
    const outDir = join(work, "out-x509");
    const run = await runCli([
      ...target(dps),
      "--cert",
      certFile,
      "--key",
      keyFile,
      "--chain",
      chainFile,
      "--csr",
      "--out-dir",
      outDir,
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("device id:   sorter-x509-01");
    expect(dps.connections.at(-1)).toMatchObject({ peerCommonName: "sorter-x509-01", password: undefined });
  });

  it("exits 1 with the error code and message when DPS answers 401", async () => {
    const refusing = await startScriptedDps({
      pki,
      script: () => ({
        status: 401,
        body: { errorCode: 401002, trackingId: "trk-1", message: "Unauthorized" },
      }),
    });
    try {
      const run = await runCli([
        ...target(refusing),
        "--registration-id",
        REGISTRATION_ID,
        "--group-key",
        GROUP_KEY,
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^error \[DPS_UNAUTHORIZED\]: .*errorCode 401002/);
      expect(run.stdout).toBe("");
      expect(run.stderr).not.toContain(GROUP_KEY);
    } finally {
      await refusing.close();
    }
  });

  it.each([
    [["--registration-id", "d1"], /one onboarding credential/],
    [["--registration-id", "d1", "--group-key", GROUP_KEY, "--device-key", GROUP_KEY], /only one onboarding/],
    [["--cert", "c.pem"], /--cert needs --key/],
    [["--group-key", GROUP_KEY], /--registration-id/],
    [["--registration-id", "d1", "--group-key", GROUP_KEY, "--payload", "{nope"], /--payload must be JSON/],
    [
      ["--registration-id", "d1", "--group-key", GROUP_KEY, "--csr-key-type", "dsa"],
      /--csr-key-type must be/,
    ],
    [["--registration-id", "d1", "--group-key", GROUP_KEY, "--timeout-seconds", "0"], /--timeout-seconds/],
  ])("exits 2 on option problems: %j", async (args, message) => {
    const run = await runCli(["provision", "--host", "localhost", "--id-scope", ID_SCOPE, ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe("");
  });
});
