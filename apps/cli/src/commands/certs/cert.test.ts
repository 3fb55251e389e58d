import type { KeyObject } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "@skittlesorter/core";
import {
  certificateFacts,
  createCertificateAuthority,
  generateKeyPair,
  issueCertificate,
  privateKeyToPem,
} from "@skittlesorter/csr";
import { openssl } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

let dir: string;
let root: { certificatePem: string; privateKey: KeyObject };
let ica: { certificatePem: string; privateKey: KeyObject };
let leaf: string;
let expiredLeaf: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "skittle-cli-cert-"));
  root = await createCertificateAuthority({ commonName: "Inspect Root", validityDays: 3650, pathLength: 1 });
  ica = await createCertificateAuthority({
    commonName: "Inspect ICA",
    validityDays: 365,
    pathLength: 0,
    issuer: root,
  });
  const keys = await generateKeyPair("ec-p256");
  leaf = await issueCertificate({
    publicKey: keys.publicKey,
    commonName: "device-7",
    issuer: ica,
    validityDays: 30,
    dnsNames: ["device-7"],
  });
  const longAgo: Clock = {
    now: () => Date.now() - 10 * DAY_MS,
    setTimeout: () => undefined,
    clearTimeout: () => {},
  };
  expiredLeaf = await issueCertificate({
    publicKey: keys.publicKey,
    commonName: "device-old",
    issuer: ica,
    validityDays: 2,
    clock: longAgo,
  });
  await writeFile(join(dir, "chain.pem"), `${leaf}\n${ica.certificatePem}\n${root.certificatePem}`);
  await writeFile(join(dir, "partial.pem"), `${leaf}${ica.certificatePem}`);
  await writeFile(join(dir, "root.pem"), root.certificatePem);
  await writeFile(join(dir, "expired.pem"), `${expiredLeaf}${ica.certificatePem}${root.certificatePem}`);
  await writeFile(join(dir, "key.pem"), privateKeyToPem(keys.privateKey));
  await writeFile(join(dir, "leaf.der"), Buffer.from(leaf.replace(/-----[A-Z ]+-----|\s/g, ""), "base64"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("skittle cert inspect", () => {
  it("shows every certificate and says the chain verifies", async () => {
    const run = await runCli(["cert", "inspect", "chain.pem"], dir);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    for (const [index, pem] of [leaf, ica.certificatePem, root.certificatePem].entries()) {
      const facts = certificateFacts(pem);
      expect(run.stdout).toContain(`Certificate #${index}`);
      expect(run.stdout).toContain(`Subject:     ${facts.subject}`);
      expect(run.stdout).toContain(facts.sha1Thumbprint);
      expect(run.stdout).toContain(facts.sha256Thumbprint);
      expect(run.stdout).toContain(facts.serialNumber);
    }
    expect(run.stdout).toMatch(/Not after: .*\(29 day\(s\) left\)/);
    expect(run.stdout).toContain("Key type:    ec-p256");
    expect(run.stdout).toContain("CA:          yes (path length 0)");
    expect(run.stdout).toContain("DNS names:   device-7");
    expect(run.stdout).toMatch(/Chain: verifies \(3 certificates/);
  });

  it("agrees with openssl's thumbprints", async () => {
    const run = await runCli(["cert", "inspect", join(dir, "chain.pem"), "--json"], "/");
    const result = JSON.parse(run.stdout) as {
      certificates: { sha1Thumbprint: string; sha256Thumbprint: string }[];
    };
    const first = result.certificates[0];
    const { stdout } = await openssl([
      "x509",
      "-in",
      join(dir, "chain.pem"),
      "-noout",
      "-fingerprint",
      "-sha256",
    ]);
    expect(stdout.trim().split("=")[1]?.replaceAll(":", "")).toBe(first?.sha256Thumbprint);
  });

  it("prints JSON with --json", async () => {
    const run = await runCli(["cert", "inspect", "chain.pem", "--json"], dir);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      file: string;
      certificates: Record<string, unknown>[];
      chain: { valid: boolean; problems: string[] };
    };
    expect(result.file).toBe(join(dir, "chain.pem"));
    expect(result.chain).toEqual({ valid: true, problems: [] });
    expect(result.certificates).toHaveLength(3);
    expect(Object.keys(result.certificates[0] ?? {}).sort()).toEqual(
      [
        "commonName",
        "daysLeft",
        "index",
        "isCa",
        "issuer",
        "keyType",
        "notAfter",
        "notBefore",
        "pathLength",
        "serialNumber",
        "sha1Thumbprint",
        "sha256Thumbprint",
        "status",
        "subject",
        "subjectAltDnsNames",
      ].sort(),
    );
    expect(result.certificates[0]).toMatchObject({
      index: 0,
      subject: "CN=device-7",
      commonName: "device-7",
      issuer: "CN=Inspect ICA",
      daysLeft: 29,
      status: "valid",
      keyType: "ec-p256",
      isCa: false,
      pathLength: null,
      subjectAltDnsNames: ["device-7"],
    });
    expect(result.certificates[2]).toMatchObject({ isCa: true, pathLength: 1, keyType: "ec-p384" });
  });

  it("exits 0 but says clearly when the chain does not verify", async () => {
    const partial = await runCli(["cert", "inspect", "partial.pem"], dir);
    expect(partial.code).toBe(0);
    expect(partial.stdout).toContain("Chain: DOES NOT VERIFY");
    expect(partial.stdout).toMatch(/ {2}- certificate #1 \(CN=Inspect ICA\): .*self-signed/);

    const expired = await runCli(["cert", "inspect", "expired.pem"], dir);
    expect(expired.code).toBe(0);
    expect(expired.stdout).toMatch(/EXPIRED 8 day\(s\) ago/);
    expect(expired.stdout).toMatch(/ {2}- certificate #0 \(CN=device-old\): expired on /);
    const json = JSON.parse((await runCli(["cert", "inspect", "expired.pem", "--json"], dir)).stdout) as {
      certificates: { status: string; daysLeft: number }[];
      chain: { valid: boolean };
    };
    expect(json.certificates[0]).toMatchObject({ status: "expired", daysLeft: -8 });
    expect(json.chain.valid).toBe(false);
  });

  it("anchors the chain in --ca-file", async () => {
    const run = await runCli(["cert", "inspect", "partial.pem", "--ca-file", "root.pem"], dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Chain: verifies \(2 certificates, anchored in the --ca-file root\)/);
  });

  it("reads a DER certificate", async () => {
    const run = await runCli(["cert", "inspect", "leaf.der", "--json"], dir);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { certificates: unknown[] }).certificates).toHaveLength(1);
  });

  it("exits 1 for a missing file or a file without a certificate", async () => {
    const missing = await runCli(["cert", "inspect", "nope.pem"], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error \[FILE_NOT_FOUND\]: .*nope\.pem/);

    const key = await runCli(["cert", "inspect", "key.pem"], dir);
    expect(key.code).toBe(1);
    expect(key.stderr).toMatch(/^error \[NO_CERTIFICATE\]: /);
    expect(key.stdout + key.stderr).not.toContain("PRIVATE KEY-----\nM");

    await writeFile(join(dir, "junk.txt"), "hello");
    expect((await runCli(["cert", "inspect", "junk.txt"], dir)).code).toBe(1);
    await writeFile(
      join(dir, "damaged.pem"),
      "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    );
    const damaged = await runCli(["cert", "inspect", "damaged.pem"], dir);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/^error \[CERT_INVALID\]: /);
  });

  it("exits 2 without a file argument and 0 for --help", async () => {
    const usage = await runCli(["cert", "inspect"], dir);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("file");
    const help = await runCli(["cert", "inspect", "--help"], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--json");
    expect(help.stdout).toContain("--ca-file");
  });
});
