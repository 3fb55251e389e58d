import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { certificateFacts, splitPemBundle, verifyChain } from "@skittlesorter/csr";
import { openssl, type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";
import type { PkiDeviceResult } from "./device-command.ts";
import type { PkiInitResult } from "./init-command.ts";
import type { PkiVerificationCertResult } from "./verification-cert-command.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** `openssl x509 -text` of a file. */
async function x509Text(file: string): Promise<string> {
  return (await openssl(["x509", "-in", file, "-noout", "-text"])).stdout;
}

/** The lines of one extension block in `openssl x509 -text` output: its header line and its value line. */
function extension(text: string, name: string): string {
  const lines = text.split("\n");
  const index = lines.findIndex((line) => line.trim().startsWith(`X509v3 ${name}`));
  expect(index, `extension ${name} present`).toBeGreaterThanOrEqual(0);
  return `${lines[index]?.trim()} | ${lines[index + 1]?.trim()}`;
}

function lifetimeDays(pem: string): number {
  const facts = certificateFacts(pem);
  return Math.round((facts.notAfter.getTime() - Date.now()) / DAY_MS);
}

describe("skittle pki with the original's RSA hierarchy", () => {
  let dir: TempDir;
  let init: PkiInitResult;
  let device: PkiDeviceResult;

  beforeAll(async () => {
    dir = await tempDir("skittle-cli-pki-rsa-");
    // The original: RSA-4096 root and intermediate, RSA-2048 device.
    const initRun = await runCli(
      ["pki", "init", "--name", "skittlesorter", "--out-dir", "certs", "--key-type", "rsa-4096", "--json"],
      dir.path,
    );
    expect(initRun.stderr).toBe("");
    expect(initRun.code).toBe(0);
    init = JSON.parse(initRun.stdout) as PkiInitResult;
    const deviceRun = await runCli(
      [
        "pki",
        "device",
        "--ca-dir",
        "certs",
        "--registration-id",
        "Sorter-01",
        "--key-type",
        "rsa-2048",
        "--json",
      ],
      dir.path,
    );
    expect(deviceRun.stderr).toBe("");
    expect(deviceRun.code).toBe(0);
    device = JSON.parse(deviceRun.stdout) as PkiDeviceResult;
  }, 120_000);

  afterAll(async () => {
    await dir[Symbol.asyncDispose]();
  });

  it("writes the documented layout, keys 0600, relative paths resolved against the working directory", async () => {
    const caDir = join(dir.path, "certs");
    expect(init.caDir).toBe(caDir);
    expect(init.files).toEqual({
      rootCert: join(caDir, "skittlesorter-root.cert.pem"),
      rootKey: join(caDir, "skittlesorter-root.key.pem"),
      intermediateCert: join(caDir, "skittlesorter-intermediate.cert.pem"),
      intermediateKey: join(caDir, "skittlesorter-intermediate.key.pem"),
      chain: join(caDir, "skittlesorter-chain.pem"),
    });
    expect(device.files).toEqual({
      cert: join(caDir, "sorter-01-device.cert.pem"),
      key: join(caDir, "sorter-01-device.key.pem"),
      fullChain: join(caDir, "sorter-01-device.full-chain.pem"),
    });
    expect((await readdir(caDir)).sort()).toEqual([
      "skittlesorter-chain.pem",
      "skittlesorter-intermediate.cert.pem",
      "skittlesorter-intermediate.key.pem",
      "skittlesorter-root.cert.pem",
      "skittlesorter-root.key.pem",
      "sorter-01-device.cert.pem",
      "sorter-01-device.full-chain.pem",
      "sorter-01-device.key.pem",
    ]);
    for (const key of [init.files.rootKey, init.files.intermediateKey, device.files.key]) {
      expect((await stat(key)).mode & 0o777).toBe(0o600);
      expect(await readFile(key, "utf8")).toContain("PRIVATE KEY");
    }
    for (const cert of [
      init.files.rootCert,
      init.files.intermediateCert,
      init.files.chain,
      device.files.cert,
    ]) {
      expect((await stat(cert)).mode & 0o777).toBe(0o644);
    }
  });

  it("builds a hierarchy openssl verifies", async () => {
    const { rootCert, intermediateCert } = init.files;
    expect((await openssl(["verify", "-CAfile", rootCert, intermediateCert])).stdout).toContain(": OK");
    const leaf = await openssl([
      "verify",
      "-CAfile",
      rootCert,
      "-untrusted",
      intermediateCert,
      device.files.cert,
    ]);
    expect(leaf.stdout).toContain(": OK");
    // The full-chain bundle: leaf, intermediate, root; the chain bundle: intermediate, root.
    const full = splitPemBundle(await readFile(device.files.fullChain, "utf8"));
    const chain = splitPemBundle(await readFile(init.files.chain, "utf8"));
    expect(full.map((pem) => certificateFacts(pem).commonName)).toEqual([
      "sorter-01",
      "skittlesorter-intermediate",
      "skittlesorter-root",
    ]);
    expect(chain.map((pem) => certificateFacts(pem).commonName)).toEqual([
      "skittlesorter-intermediate",
      "skittlesorter-root",
    ]);
    expect(verifyChain(full)).toEqual({ valid: true, problems: [] });
    const viaBundle = await openssl([
      "verify",
      "-CAfile",
      rootCert,
      "-untrusted",
      init.files.chain,
      device.files.cert,
    ]);
    expect(viaBundle.stdout).toContain(": OK");
  });

  it("gives the root the original's extensions: 10 years, pathlen 1, keyCertSign + cRLSign", async () => {
    const text = await x509Text(init.files.rootCert);
    expect(text).toMatch(/Subject: CN\s*=\s*skittlesorter-root/);
    expect(text).toMatch(/Issuer: CN\s*=\s*skittlesorter-root/);
    expect(text).toContain("Public-Key: (4096 bit)");
    expect(text).toContain("sha256WithRSAEncryption");
    expect(extension(text, "Basic Constraints")).toBe(
      "X509v3 Basic Constraints: critical | CA:TRUE, pathlen:1",
    );
    expect(extension(text, "Key Usage")).toBe("X509v3 Key Usage: critical | Certificate Sign, CRL Sign");
    expect(extension(text, "Subject Key Identifier")).toMatch(/\| ([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(extension(text, "Authority Key Identifier")).toMatch(/\| (keyid:)?([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(lifetimeDays(await readFile(init.files.rootCert, "utf8"))).toBe(3650);
    expect(init.root).toMatchObject({ isCa: true, pathLength: 1, keyType: "rsa-4096" });
  });

  it("gives the intermediate the original's extensions: 5 years, pathlen 0, signed by the root", async () => {
    const text = await x509Text(init.files.intermediateCert);
    expect(text).toMatch(/Subject: CN\s*=\s*skittlesorter-intermediate/);
    expect(text).toMatch(/Issuer: CN\s*=\s*skittlesorter-root/);
    expect(text).toContain("Public-Key: (4096 bit)");
    expect(extension(text, "Basic Constraints")).toBe(
      "X509v3 Basic Constraints: critical | CA:TRUE, pathlen:0",
    );
    expect(extension(text, "Key Usage")).toBe("X509v3 Key Usage: critical | Certificate Sign, CRL Sign");
    // authorityKeyIdentifier = the root's subjectKeyIdentifier
    const rootSki = extension(await x509Text(init.files.rootCert), "Subject Key Identifier").split("| ")[1];
    expect(extension(text, "Authority Key Identifier")).toContain(rootSki);
    expect(lifetimeDays(await readFile(init.files.intermediateCert, "utf8"))).toBe(1825);
  });

  it("gives the device certificate the original's extensions: CN and SAN DNS = registration id, clientAuth", async () => {
    const text = await x509Text(device.files.cert);
    expect(text).toMatch(/Subject: CN\s*=\s*sorter-01\s*$/m);
    expect(text).toMatch(/Issuer: CN\s*=\s*skittlesorter-intermediate/);
    expect(text).toContain("Public-Key: (2048 bit)");
    expect(text).toContain("sha256WithRSAEncryption");
    expect(extension(text, "Basic Constraints")).toBe("X509v3 Basic Constraints: | CA:FALSE");
    expect(extension(text, "Key Usage")).toBe(
      "X509v3 Key Usage: critical | Digital Signature, Key Encipherment",
    );
    expect(extension(text, "Extended Key Usage")).toMatch(/\| TLS Web Client Authentication$/);
    expect(extension(text, "Subject Alternative Name")).toMatch(/\| DNS:sorter-01$/);
    const icaSki = extension(await x509Text(init.files.intermediateCert), "Subject Key Identifier").split(
      "| ",
    )[1];
    expect(extension(text, "Authority Key Identifier")).toContain(icaSki);
    expect(lifetimeDays(await readFile(device.files.cert, "utf8"))).toBe(365);
    expect(device).toMatchObject({
      registrationId: "sorter-01",
      caName: "skittlesorter",
      keyType: "rsa-2048",
    });
  });

  it("makes verification certificates that pass a proof-of-possession check for the root and the intermediate", async () => {
    const rootRun = await runCli(
      [
        "pki",
        "verification-cert",
        "--ca-cert",
        "certs/skittlesorter-root.cert.pem",
        "--ca-key",
        "certs/skittlesorter-root.key.pem",
        "--code",
        "1B1F84DE79B9BD5F16D71E92709917C2A1CA19D5A156CB9F",
        "--json",
      ],
      dir.path,
    );
    expect(rootRun.stderr).toBe("");
    expect(rootRun.code).toBe(0);
    const rootResult = JSON.parse(rootRun.stdout) as PkiVerificationCertResult;
    expect(rootResult.file).toBe(join(dir.path, "certs", "skittlesorter-root-verification.cert.pem"));

    const icaRun = await runCli(
      [
        "pki",
        "verification-cert",
        "--ca-cert",
        init.files.intermediateCert,
        "--ca-key",
        init.files.intermediateKey,
        "--code",
        "ABCDEF0123456789",
        "--out",
        "pop/ica-verification.pem",
        "--json",
      ],
      dir.path,
    );
    expect(icaRun.code).toBe(0);
    const icaResult = JSON.parse(icaRun.stdout) as PkiVerificationCertResult;
    expect(icaResult.file).toBe(join(dir.path, "pop", "ica-verification.pem"));

    // What DPS checks: CN = the verification code, and the CA's signature.
    for (const [result, code, caCert] of [
      [rootResult, "1B1F84DE79B9BD5F16D71E92709917C2A1CA19D5A156CB9F", init.files.rootCert],
      [icaResult, "ABCDEF0123456789", init.files.intermediateCert],
    ] as const) {
      const pem = await readFile(result.file, "utf8");
      const facts = certificateFacts(pem);
      expect(facts.commonName).toBe(code);
      expect(facts.subject).toBe(`CN=${code}`);
      expect(result.certificate.issuer).toBe(certificateFacts(await readFile(caCert, "utf8")).subject);
      expect(verifyChain([pem], { trustedRoots: [await readFile(caCert, "utf8")] })).toEqual({
        valid: true,
        problems: [],
      });
      // Not signed by the other CA.
      const other = caCert === init.files.rootCert ? init.files.intermediateCert : init.files.rootCert;
      expect(verifyChain([pem], { trustedRoots: [await readFile(other, "utf8")] }).valid).toBe(false);
      const subject = await openssl(["x509", "-in", result.file, "-noout", "-subject"]);
      expect(subject.stdout).toMatch(new RegExp(`subject=\\s*CN\\s*=\\s*${code}\\s*$`, "m"));
    }
    // openssl: the root's proof verifies under the root alone; the intermediate's under root + intermediate.
    const rootProof = await openssl([
      "verify",
      "-partial_chain",
      "-CAfile",
      init.files.rootCert,
      rootResult.file,
    ]);
    expect(rootProof.stdout).toContain(": OK");
    const icaProof = await openssl([
      "verify",
      "-partial_chain",
      "-CAfile",
      init.files.intermediateCert,
      icaResult.file,
    ]);
    expect(icaProof.stdout).toContain(": OK");
    const icaFull = await openssl([
      "verify",
      "-CAfile",
      init.files.rootCert,
      "-untrusted",
      init.files.intermediateCert,
      icaResult.file,
    ]);
    expect(icaFull.stdout).toContain(": OK");
    expect(lifetimeDays(await readFile(rootResult.file, "utf8"))).toBe(1);
  });
});

describe("skittle pki (EC keys, refusals and usage errors)", () => {
  let dir: TempDir;

  beforeAll(async () => {
    dir = await tempDir("skittle-cli-pki-ec-");
  });

  afterAll(async () => {
    await dir[Symbol.asyncDispose]();
  });

  it("uses EC P-384 with SHA-384 by default and never prints a private key", async () => {
    const run = await runCli(["pki", "init", "--name", "demo", "--out-dir", "ca"], dir.path);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain(join(dir.path, "ca", "demo-root.cert.pem"));
    expect(run.stdout).toContain("mode 0600");
    expect(run.stdout).not.toContain("PRIVATE KEY");
    const text = await x509Text(join(dir.path, "ca", "demo-intermediate.cert.pem"));
    expect(text).toContain("NIST CURVE: P-384");
    expect(text).toContain("ecdsa-with-SHA384");

    const deviceRun = await runCli(
      ["pki", "device", "--ca-dir", "ca", "--registration-id", "dev-1", "--days", "30"],
      dir.path,
    );
    expect(deviceRun.code).toBe(0);
    expect(deviceRun.stdout).not.toContain("PRIVATE KEY");
    const deviceText = await x509Text(join(dir.path, "ca", "dev-1-device.cert.pem"));
    // keyEncipherment means nothing for an EC key, so only digitalSignature.
    expect(extension(deviceText, "Key Usage")).toBe("X509v3 Key Usage: critical | Digital Signature");
    expect(extension(deviceText, "Extended Key Usage")).toMatch(/TLS Web Client Authentication$/);
    expect(lifetimeDays(await readFile(join(dir.path, "ca", "dev-1-device.cert.pem"), "utf8"))).toBe(30);
  });

  it("refuses to overwrite CA or device keys without --force, and replaces them with it", async () => {
    const rootCert = join(dir.path, "ca", "demo-root.cert.pem");
    const before = await readFile(rootCert, "utf8");
    const again = await runCli(["pki", "init", "--name", "demo", "--out-dir", "ca"], dir.path);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("error [KEY_FILE_EXISTS]");
    expect(again.stderr).toContain("--force");
    expect(await readFile(rootCert, "utf8")).toBe(before);

    const device = await runCli(["pki", "device", "--ca-dir", "ca", "--registration-id", "dev-1"], dir.path);
    expect(device.code).toBe(1);
    expect(device.stderr).toContain("dev-1-device.key.pem already exists");

    const forced = await runCli(["pki", "init", "--name", "demo", "--out-dir", "ca", "--force"], dir.path);
    expect(forced.code).toBe(0);
    expect(await readFile(rootCert, "utf8")).not.toBe(before);
    const forcedDevice = await runCli(
      ["pki", "device", "--ca-dir", "ca", "--registration-id", "dev-1", "--force"],
      dir.path,
    );
    expect(forcedDevice.code).toBe(0);
  });

  it("asks for --name when the CA directory holds several CAs, and says how to create one when it holds none", async () => {
    const second = await runCli(["pki", "init", "--name", "other", "--out-dir", "ca"], dir.path);
    expect(second.code).toBe(0);
    const ambiguous = await runCli(
      ["pki", "device", "--ca-dir", "ca", "--registration-id", "dev-2"],
      dir.path,
    );
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain("several CAs (demo, other)");
    const chosen = await runCli(
      [
        "pki",
        "device",
        "--ca-dir",
        "ca",
        "--name",
        "other",
        "--registration-id",
        "dev-2",
        "--out-dir",
        "devices",
        "--json",
      ],
      dir.path,
    );
    expect(chosen.code).toBe(0);
    const result = JSON.parse(chosen.stdout) as PkiDeviceResult;
    expect(result.files.cert).toBe(join(dir.path, "devices", "dev-2-device.cert.pem"));
    expect(result.certificate.issuer).toBe("CN=other-intermediate");

    const none = await runCli(
      ["pki", "device", "--ca-dir", "nowhere", "--registration-id", "dev-3"],
      dir.path,
    );
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("error [CA_NOT_FOUND]");
    expect(none.stderr).toContain("skittle pki init");
  });

  it("rejects a verification certificate request with the wrong key or a non-CA certificate", async () => {
    const wrongKey = await runCli(
      [
        "pki",
        "verification-cert",
        "--ca-cert",
        "ca/demo-root.cert.pem",
        "--ca-key",
        "ca/other-root.key.pem",
        "--code",
        "ABC123",
      ],
      dir.path,
    );
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain("error [ISSUER_INVALID]");
    expect(wrongKey.stderr).not.toContain("PRIVATE KEY");

    const notCa = await runCli(
      [
        "pki",
        "verification-cert",
        "--ca-cert",
        "ca/dev-1-device.cert.pem",
        "--ca-key",
        "ca/dev-1-device.key.pem",
        "--code",
        "ABC123",
      ],
      dir.path,
    );
    expect(notCa.code).toBe(1);
    expect(notCa.stderr).toContain("error [NOT_A_CA]");

    const missing = await runCli(
      [
        "pki",
        "verification-cert",
        "--ca-cert",
        "ca/nope.pem",
        "--ca-key",
        "ca/demo-root.key.pem",
        "--code",
        "X",
      ],
      dir.path,
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("error [FILE_NOT_FOUND]");
  });

  it.each([
    [["pki", "init", "--name", "bad name", "--out-dir", "x"], "--name"],
    [["pki", "init", "--name", "ok", "--out-dir", "x", "--root-days", "0"], "--root-days"],
    [["pki", "init", "--name", "ok", "--out-dir", "x", "--key-type", "dsa"], "--key-type"],
    [["pki", "init", "--out-dir", "x"], "--name"],
    [["pki", "device", "--ca-dir", "ca", "--registration-id", "-bad-"], "--registration-id"],
    [["pki", "device", "--ca-dir", "ca", "--registration-id", "x", "--days", "1.5"], "--days"],
    [["pki", "verification-cert", "--ca-cert", "a", "--ca-key", "b", "--code", "has space"], "--code"],
    [["pki", "verification-cert", "--ca-cert", "a", "--ca-key", "b"], "--code"],
  ])("exits 2 on a usage error: %j", async (argv, flag) => {
    const run = await runCli(argv, dir.path);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(flag);
  });

  it.each(["init", "device", "verification-cert"])("prints help for pki %s", async (name) => {
    const run = await runCli(["pki", name, "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Usage: skittle pki ${name}`);
    expect(run.stdout).toContain("--json");
  });

  it("documents the CA directory layout in the group help", async () => {
    const run = await runCli(["pki", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("{name}-root.cert.pem");
    expect(run.stdout).toContain("{id}-device.full-chain.pem");
  });
});
