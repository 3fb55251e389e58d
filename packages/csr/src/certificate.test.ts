import type { KeyObject } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "@skittlesorter/core";
import { openssl, tempDir } from "@skittlesorter/test-utils";
import { beforeAll, describe, expect, it } from "vitest";
import {
  assertKeyMatchesCertificate,
  type CsrError,
  certificateFacts,
  certificateFromWire,
  certificateToWire,
  chainFromWire,
  chainToWire,
  createCertificateAuthority,
  generateKeyPair,
  type IssuerRef,
  issueCertificate,
  type KeyPair,
  privateKeyToPem,
  splitPemBundle,
  verifyChain,
} from "./index.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

function fixedClock(now: number): Clock {
  return { now: () => now, setTimeout: () => undefined, clearTimeout: () => {} };
}

function issuerOf(ca: { certificatePem: string; privateKey: KeyObject }): IssuerRef {
  return { certificatePem: ca.certificatePem, privateKey: ca.privateKey };
}

function expectCode(fn: () => unknown, code: string): CsrError {
  try {
    fn();
  } catch (error) {
    expect((error as CsrError).code).toBe(code);
    return error as CsrError;
  }
  throw new Error(`expected a CsrError ${code}`);
}

let root: Awaited<ReturnType<typeof createCertificateAuthority>>;
let ica: Awaited<ReturnType<typeof createCertificateAuthority>>;
let leafKeys: KeyPair;
let leaf: string;
const issuedAt = Date.now();

beforeAll(async () => {
  root = await createCertificateAuthority({
    commonName: "Skittle Test Root",
    validityDays: 3650,
    pathLength: 1,
  });
  ica = await createCertificateAuthority({
    commonName: "Skittle Test ICA",
    validityDays: 365,
    pathLength: 0,
    issuer: issuerOf(root),
  });
  leafKeys = await generateKeyPair("ec-p256");
  leaf = await issueCertificate({
    publicKey: leafKeys.publicKey,
    commonName: "device-1",
    issuer: issuerOf(ica),
    validityDays: 30,
    dnsNames: ["device-1"],
    extendedKeyUsage: ["clientAuth"],
    clock: fixedClock(issuedAt),
  });
});

describe("createCertificateAuthority / issueCertificate", () => {
  it("make a chain that openssl verifies (root -> intermediate -> leaf)", async () => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, "root.pem"), root.certificatePem);
    await writeFile(join(dir.path, "ica.pem"), ica.certificatePem);
    await writeFile(join(dir.path, "leaf.pem"), leaf);
    const { stdout } = await openssl(
      ["verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted", "ica.pem", "leaf.pem"].map((arg) =>
        arg.endsWith(".pem") ? join(dir.path, arg) : arg,
      ),
    );
    expect(stdout).toContain("leaf.pem: OK");
  });

  it("set the CA and end-entity extensions", async () => {
    const rootText = (await openssl(["x509", "-noout", "-text"], root.certificatePem)).stdout;
    expect(rootText).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    expect(rootText).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(rootText).toContain("Subject Key Identifier");
    expect(rootText).toContain("ASN1 OID: secp384r1");
    const icaText = (await openssl(["x509", "-noout", "-text"], ica.certificatePem)).stdout;
    expect(icaText).toMatch(/CA:TRUE, pathlen:0/);
    expect(icaText).toContain("ecdsa-with-SHA384");
    const leafText = (await openssl(["x509", "-noout", "-text"], leaf)).stdout;
    expect(leafText).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(leafText).toMatch(/Key Usage: critical\s+Digital Signature\s/);
    expect(leafText).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication/);
    expect(leafText).toContain("DNS:device-1");
    expect(leafText).toContain("ecdsa-with-SHA384");
    // AKI of the leaf is the SKI of the intermediate.
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(icaText)?.[1];
    const aki = /Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(leafText)?.[1];
    expect(ski).toBeDefined();
    expect(aki).toBe(ski);
  });

  it("issue RSA certificates with keyEncipherment, IP SANs, serverAuth and a chosen serial", async () => {
    const rsaRoot = await createCertificateAuthority({
      commonName: "RSA Root",
      keyType: "rsa-2048",
      validityDays: 10,
    });
    const serverKeys = await generateKeyPair("rsa-2048");
    const server = await issueCertificate({
      publicKey: serverKeys.publicKey,
      commonName: "localhost",
      issuer: issuerOf(rsaRoot),
      validityDays: 5,
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1", "::1"],
      extendedKeyUsage: ["serverAuth"],
      serialNumber: "0a1b2c",
      hash: "SHA-384",
    });
    const text = (await openssl(["x509", "-noout", "-text"], server)).stdout;
    expect(text).toMatch(/Digital Signature, Key Encipherment/);
    expect(text).toContain("IP Address:127.0.0.1");
    expect(text).toContain("TLS Web Server Authentication");
    expect(text).toContain("sha384WithRSAEncryption");
    expect(certificateFacts(server).serialNumber).toBe("0A1B2C");
    expect(verifyChain([server, rsaRoot.certificatePem]).valid).toBe(true);
  });

  it("refuse a non-CA issuer, a mismatched issuer key and a pathLength-0 issuer for a CA", async () => {
    await expect(
      issueCertificate({
        publicKey: leafKeys.publicKey,
        commonName: "x",
        issuer: { certificatePem: leaf, privateKey: leafKeys.privateKey },
        validityDays: 1,
      }),
    ).rejects.toMatchObject({ code: "ISSUER_INVALID" });
    await expect(
      issueCertificate({
        publicKey: leafKeys.publicKey,
        commonName: "x",
        issuer: { certificatePem: ica.certificatePem, privateKey: root.privateKey },
        validityDays: 1,
      }),
    ).rejects.toMatchObject({ code: "ISSUER_INVALID" });
    await expect(
      createCertificateAuthority({ commonName: "too deep", validityDays: 1, issuer: issuerOf(ica) }),
    ).rejects.toMatchObject({ code: "ISSUER_INVALID" });
    await expect(
      issueCertificate({
        publicKey: leafKeys.publicKey,
        commonName: "x",
        issuer: issuerOf(ica),
        validityDays: 0,
      }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe("certificateFacts", () => {
  it("matches openssl's fingerprints and serial", async () => {
    const facts = certificateFacts(leaf);
    const sha1 = (await openssl(["x509", "-noout", "-fingerprint", "-sha1"], leaf)).stdout;
    const sha256 = (await openssl(["x509", "-noout", "-fingerprint", "-sha256"], leaf)).stdout;
    const serial = (await openssl(["x509", "-noout", "-serial"], leaf)).stdout;
    expect(facts.sha1Thumbprint).toMatch(/^[0-9A-F]{40}$/);
    expect(facts.sha256Thumbprint).toMatch(/^[0-9A-F]{64}$/);
    expect(sha1.trim().split("=")[1]?.replaceAll(":", "")).toBe(facts.sha1Thumbprint);
    expect(sha256.trim().split("=")[1]?.replaceAll(":", "")).toBe(facts.sha256Thumbprint);
    expect(serial.trim()).toBe(`serial=${facts.serialNumber}`);
  });

  it("reads names, validity, key type, CA flag and SANs", () => {
    const facts = certificateFacts(leaf);
    expect(facts).toMatchObject({
      subject: "CN=device-1",
      commonName: "device-1",
      issuer: "CN=Skittle Test ICA",
      issuerCommonName: "Skittle Test ICA",
      keyType: "ec-p256",
      isCa: false,
      pathLength: undefined,
      selfIssued: false,
      subjectAltDnsNames: ["device-1"],
    });
    expect(facts.notAfter.getTime()).toBe(Math.floor((issuedAt + 30 * DAY_MS) / 1000) * 1000);
    expect(facts.notBefore.getTime()).toBeLessThan(issuedAt);
    expect(facts.pem).toBe(leaf);
    const rootFacts = certificateFacts(root.certificatePem);
    expect(rootFacts).toMatchObject({ isCa: true, pathLength: 1, selfIssued: true, keyType: "ec-p384" });
  });

  it("accepts PEM, DER and base64 DER, and refuses other input with CERT_INVALID", () => {
    const wire = certificateToWire(leaf);
    expect(certificateFacts(Buffer.from(wire, "base64")).sha256Thumbprint).toBe(
      certificateFacts(leaf).sha256Thumbprint,
    );
    expect(certificateFacts(wire).commonName).toBe("device-1");
    expectCode(() => certificateFacts("garbage!"), "CERT_INVALID");
    expectCode(() => certificateFacts(new Uint8Array([1, 2, 3])), "CERT_INVALID");
    const notACert = expectCode(() => certificateFacts(privateKeyToPem(leafKeys.privateKey)), "CERT_INVALID");
    expect(notACert.message).toContain("CERTIFICATE");
  });
});

describe("wire forms", () => {
  it("round-trip a single certificate and a chain (leaf first)", () => {
    const wire = certificateToWire(leaf);
    expect(wire).not.toMatch(/[\r\n]|-----/);
    expect(certificateFromWire(wire)).toBe(leaf);
    const bundle = `${leaf}\n${ica.certificatePem}\r\n${root.certificatePem}`;
    const chain = chainToWire(bundle);
    expect(chain).toHaveLength(3);
    expect(chain[0]).toBe(wire);
    expect(chainToWire([leaf, `${ica.certificatePem}${root.certificatePem}`])).toEqual(chain);
    const { pems, bundle: rebuilt } = chainFromWire(chain);
    expect(pems).toEqual([leaf, ica.certificatePem, root.certificatePem]);
    expect(rebuilt).toBe(pems.join(""));
    expect(splitPemBundle(rebuilt)).toEqual(pems);
  });

  it("skip non-certificate PEM blocks and refuse bad input", () => {
    const mixed = `${privateKeyToPem(leafKeys.privateKey)}${leaf}`;
    expect(splitPemBundle(mixed)).toEqual([leaf]);
    expect(splitPemBundle("no pem here")).toEqual([]);
    expectCode(() => certificateToWire(`${leaf}${ica.certificatePem}`), "CERT_INVALID");
    expectCode(() => certificateToWire(""), "CERT_INVALID");
    expectCode(() => certificateFromWire(leaf), "CERT_INVALID");
    expectCode(() => chainFromWire([]), "CHAIN_INVALID");
    expectCode(() => chainFromWire(["not base64!"]), "CHAIN_INVALID");
    expectCode(
      () => chainFromWire([certificateToWire(leaf), Buffer.from("junk").toString("base64")]),
      "CHAIN_INVALID",
    );
    expectCode(() => chainToWire("nothing"), "CHAIN_INVALID");
  });
});

describe("verifyChain", () => {
  it("accepts the good chain, with the root included or given as trusted", () => {
    expect(verifyChain([leaf, ica.certificatePem, root.certificatePem])).toEqual({
      valid: true,
      problems: [],
    });
    expect(verifyChain([`${leaf}${ica.certificatePem}${root.certificatePem}`]).valid).toBe(true);
    expect(verifyChain(chainToWire([leaf, ica.certificatePem, root.certificatePem])).valid).toBe(true);
    expect(verifyChain([leaf, ica.certificatePem], { trustedRoots: [root.certificatePem] }).valid).toBe(true);
    expect(
      verifyChain([leaf, ica.certificatePem, root.certificatePem], { trustedRoots: [root.certificatePem] })
        .valid,
    ).toBe(true);
  });

  it("needs an anchor: a self-signed last certificate or a trusted root", async () => {
    const result = verifyChain([leaf, ica.certificatePem]);
    expect(result.valid).toBe(false);
    expect(result.problems.join("\n")).toMatch(/certificate #1 \(CN=Skittle Test ICA\).*self-signed/);
    const otherRoot = await createCertificateAuthority({ commonName: "Other Root", validityDays: 10 });
    const untrusted = verifyChain([leaf, ica.certificatePem], { trustedRoots: [otherRoot.certificatePem] });
    expect(untrusted.problems.join("\n")).toMatch(
      /certificate #1 \(CN=Skittle Test ICA\).*not issued by any of the trusted roots/,
    );
  });

  it("catches a wrong issuer", async () => {
    const otherIca = await createCertificateAuthority({
      commonName: "Skittle Test ICA",
      validityDays: 30,
      issuer: issuerOf(root),
    });
    // Same subject name, different key: the name matches but the signature does not.
    const sameName = verifyChain([leaf, otherIca.certificatePem, root.certificatePem]);
    expect(sameName.valid).toBe(false);
    expect(sameName.problems).toEqual([
      expect.stringMatching(/^certificate #0 \(CN=device-1\): .*signature does not verify.*certificate #1/),
    ]);
    const wrongOrder = verifyChain([leaf, root.certificatePem]);
    expect(wrongOrder.problems).toEqual([
      expect.stringMatching(
        /^certificate #0 \(CN=device-1\): its issuer "CN=Skittle Test ICA" is not the subject of certificate #1 \(CN=Skittle Test Root\)/,
      ),
    ]);
  });

  it("catches an expired and a not-yet-valid certificate at the injected time", () => {
    const chain = [leaf, ica.certificatePem, root.certificatePem];
    expect(verifyChain(chain, { clock: fixedClock(issuedAt + 29 * DAY_MS) }).valid).toBe(true);
    const expired = verifyChain(chain, { clock: fixedClock(issuedAt + 31 * DAY_MS) });
    expect(expired.valid).toBe(false);
    expect(expired.problems).toEqual([expect.stringMatching(/^certificate #0 \(CN=device-1\): expired on /)]);
    const early = verifyChain(chain, { clock: fixedClock(issuedAt - DAY_MS) });
    expect(early.problems.join("\n")).toMatch(/certificate #0 \(CN=device-1\): not valid yet/);
  });

  it("catches a non-CA issuer (signed with openssl, which does not check)", async () => {
    await using dir = await tempDir();
    const leafFile = join(dir.path, "leaf.pem");
    const leafKeyFile = join(dir.path, "leaf.key");
    const childKeyFile = join(dir.path, "child.key");
    const csrFile = join(dir.path, "child.csr");
    await writeFile(leafFile, leaf);
    await writeFile(leafKeyFile, privateKeyToPem(leafKeys.privateKey));
    await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", childKeyFile]);
    await openssl(["req", "-new", "-key", childKeyFile, "-subj", "/CN=child", "-out", csrFile]);
    const { stdout: child } = await openssl([
      "x509",
      "-req",
      "-in",
      csrFile,
      "-CA",
      leafFile,
      "-CAkey",
      leafKeyFile,
      "-days",
      "1",
      "-set_serial",
      "7",
    ]);
    const result = verifyChain([child, leaf, ica.certificatePem, root.certificatePem]);
    expect(result.valid).toBe(false);
    expect(result.problems.join("\n")).toMatch(
      /certificate #1 \(CN=device-1\): issues certificate #0 \(CN=child\) but is not a CA/,
    );
    // openssl agrees.
    await writeFile(join(dir.path, "child.pem"), child);
    await writeFile(join(dir.path, "root.pem"), root.certificatePem);
    await writeFile(join(dir.path, "untrusted.pem"), `${leaf}${ica.certificatePem}`);
    await expect(
      openssl([
        "verify",
        "-CAfile",
        join(dir.path, "root.pem"),
        "-untrusted",
        join(dir.path, "untrusted.pem"),
        join(dir.path, "child.pem"),
      ]),
    ).rejects.toThrow();
  });

  it("enforces path length constraints", async () => {
    const ica1 = await createCertificateAuthority({
      commonName: "ICA 1",
      validityDays: 30,
      issuer: issuerOf(root),
    });
    const ica2 = await createCertificateAuthority({
      commonName: "ICA 2",
      validityDays: 30,
      issuer: issuerOf(ica1),
    });
    const deep = await issueCertificate({
      publicKey: leafKeys.publicKey,
      commonName: "deep",
      issuer: issuerOf(ica2),
      validityDays: 1,
    });
    const result = verifyChain([deep, ica2.certificatePem, ica1.certificatePem, root.certificatePem]);
    expect(result.problems).toEqual([
      expect.stringMatching(/^certificate #3 \(CN=Skittle Test Root\): its pathLength 1 .* has 2/),
    ]);
  });

  it("reports unparseable entries and an empty chain", () => {
    expect(verifyChain([]).problems).toEqual([expect.stringMatching(/empty/)]);
    expect(verifyChain([leaf, "bm90IGEgY2VydA=="]).problems).toEqual([
      expect.stringMatching(/^certificate #1: cannot be parsed/),
    ]);
    const damaged = "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n";
    expect(verifyChain([leaf, damaged]).problems).toEqual([
      expect.stringMatching(/^chain entry #1: cannot be parsed/),
    ]);
    expect(verifyChain([leaf, privateKeyToPem(leafKeys.privateKey)]).problems).toEqual([
      expect.stringMatching(/^chain entry #1: holds no CERTIFICATE/),
    ]);
    expect(verifyChain([leaf], { trustedRoots: [damaged] }).valid).toBe(false);
  });
});

describe("assertKeyMatchesCertificate", () => {
  it("passes for the certificate's key and throws KEY_CERT_MISMATCH otherwise", () => {
    expect(() => assertKeyMatchesCertificate(leafKeys.privateKey, leaf)).not.toThrow();
    const error = expectCode(() => assertKeyMatchesCertificate(root.privateKey, leaf), "KEY_CERT_MISMATCH");
    expect(error.message).toContain("CN=device-1");
  });
});
