// The shortcuts that keep per-certificate work in node:crypto: an issuer parsed once and reused, end-entity
// facts read without the JavaScript ASN.1 decoder, CSR signatures checked with node:crypto's verify.
import { X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "@skittlesorter/core";
import { openssl, tempDir } from "@skittlesorter/test-utils";
import { beforeAll, describe, expect, it } from "vitest";
import { libFacts, nodeFacts } from "./certificate.ts";
import { csrParts, decodedCsrParts } from "./csr.ts";
import { plainCsrFields } from "./csr-fields.ts";
import { signedPart } from "./der.ts";
import {
  certificateFacts,
  createCertificateAuthority,
  createCsr,
  generateKeyPair,
  issueCertificate,
  type KeyPair,
  parseCsr,
  privateKeyToPem,
} from "./index.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const clockAt = (now: number): Clock => ({
  now: () => now,
  setTimeout: () => undefined,
  clearTimeout: () => {},
});

let ca: Awaited<ReturnType<typeof createCertificateAuthority>>;
let other: Awaited<ReturnType<typeof createCertificateAuthority>>;
let device: KeyPair;

beforeAll(async () => {
  ca = await createCertificateAuthority({ commonName: "Fast Path CA", validityDays: 10 });
  other = await createCertificateAuthority({ commonName: "Other CA", validityDays: 10 });
  device = await generateKeyPair("ec-p384");
});

describe("an issuer that has signed before", () => {
  it("is still checked against the key and the clock on every call", async () => {
    const issue = (privateKey = ca.privateKey, clock?: Clock) =>
      issueCertificate({
        publicKey: device.publicKey,
        commonName: "dev-1",
        issuer: { certificatePem: ca.certificatePem, privateKey },
        validityDays: 1,
        clock,
      });
    const first = new X509Certificate(await issue());
    const second = new X509Certificate(await issue());
    expect(second.verify(first.publicKey)).toBe(false); // a leaf of its own, not a cached one
    expect(second.checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
    await expect(issue(other.privateKey)).rejects.toMatchObject({
      code: "ISSUER_INVALID",
      message: expect.stringContaining("does not belong"),
    });
    await expect(issue(ca.privateKey, clockAt(Date.now() + 11 * DAY_MS))).rejects.toMatchObject({
      code: "ISSUER_INVALID",
      message: expect.stringContaining("expired"),
    });
    await expect(issue()).resolves.toContain("BEGIN CERTIFICATE");
  });
});

describe("end-entity facts from node:crypto", () => {
  it("agree with the full decoder for plain names and SANs", async () => {
    const leaf = await issueCertificate({
      publicKey: device.publicKey,
      commonName: "sorter-01_line.a:b",
      issuer: { certificatePem: ca.certificatePem, privateKey: ca.privateKey },
      validityDays: 3,
      dnsNames: ["a.example", "b.example"],
      ipAddresses: ["127.0.0.1"],
    });
    const node = new X509Certificate(leaf);
    const fast = nodeFacts(node);
    expect(fast).toBeDefined();
    // keyCertSign is read only for issuers, so the shortcut (for non-CAs) leaves it out.
    const decoded = { ...libFacts(Buffer.from(node.raw), "leaf"), keyCertSign: undefined };
    expect(fast).toEqual(decoded);
    expect(fast?.subjectAltDnsNames).toEqual(["a.example", "b.example"]);
  });

  it("leave CAs and names that need escaping to the full decoder", async () => {
    await using dir = await tempDir();
    const keyFile = join(dir.path, "leaf.key");
    const caFile = join(dir.path, "ca.pem");
    const caKeyFile = join(dir.path, "ca.key");
    await writeFile(keyFile, privateKeyToPem(device.privateKey));
    await writeFile(caFile, ca.certificatePem);
    await writeFile(caKeyFile, privateKeyToPem(ca.privateKey));
    const csrFile = join(dir.path, "leaf.csr");
    await openssl(["req", "-new", "-key", keyFile, "-subj", "/CN=a\\, b/O=Zoë+OU=x", "-out", csrFile]);
    const { stdout: leaf } = await openssl(
      ["x509", "-req", "-in", csrFile, "-CA", caFile, "-CAkey", caKeyFile, "-days", "1", "-set_serial", "9"],
      undefined,
    );
    expect(nodeFacts(new X509Certificate(leaf))).toBeUndefined();
    expect(nodeFacts(new X509Certificate(ca.certificatePem))).toBeUndefined();
    const facts = certificateFacts(leaf);
    expect(facts.commonName).toBe("a, b");
    expect(facts.subject).toBe(libFacts(Buffer.from(new X509Certificate(leaf).raw), "leaf").subject);
  });
});

describe("CA facts from node:crypto and the DER", () => {
  it.each([
    [
      "pathlen 0, keyCertSign",
      ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign"],
    ],
    ["pathlen 300, no keyUsage", ["basicConstraints=critical,CA:TRUE,pathlen:300"]],
    ["no pathlen, keyCertSign alone", ["basicConstraints=CA:TRUE", "keyUsage=keyCertSign"]],
    [
      "SAN and every key usage",
      [
        "basicConstraints=CA:TRUE,pathlen:2",
        "keyUsage=digitalSignature,nonRepudiation,keyEncipherment,dataEncipherment,keyAgreement,keyCertSign,cRLSign,encipherOnly,decipherOnly",
        "subjectAltName=DNS:ca.example",
      ],
    ],
  ])("agree with the full decoder (%s)", async (_, extensions) => {
    await using dir = await tempDir();
    const keyFile = join(dir.path, "ca.key");
    await writeFile(keyFile, privateKeyToPem(device.privateKey));
    // No configuration file: the certificate has exactly the extensions given.
    const { stdout: pem } = await openssl([
      "req",
      "-x509",
      "-config",
      "/dev/null",
      "-key",
      keyFile,
      "-subj",
      "/CN=Openssl CA/O=Test",
      "-days",
      "2",
      ...extensions.flatMap((extension) => ["-addext", extension]),
    ]);
    const node = new X509Certificate(pem);
    const der = Buffer.from(node.raw);
    expect(node.ca).toBe(true);
    expect(nodeFacts(node, der)).toEqual(libFacts(der, "CA"));
  });

  it("agree with the full decoder for the CAs this package makes", async () => {
    for (const certificatePem of [ca.certificatePem, other.certificatePem]) {
      const node = new X509Certificate(certificatePem);
      const der = Buffer.from(node.raw);
      expect(nodeFacts(node, der)).toEqual(libFacts(der, "CA"));
      expect(nodeFacts(node, der)?.keyCertSign).toBe(true);
    }
  });
});

describe("CSR signatures checked with node:crypto", () => {
  it("hold for every key type and fail for a CSR signed by another key", async () => {
    for (const keyType of ["ec-p384", "ec-p256", "rsa-2048"] as const) {
      const pair = await generateKeyPair(keyType);
      const csr = await createCsr("dev-1", pair);
      expect((await parseCsr(csr.der)).signatureValid).toBe(true);
      // Same subject and key, signature from another key of the same type.
      const stranger = await createCsr("dev-1", await generateKeyPair(keyType));
      const spliced = spliceSignature(csr.der, stranger.der);
      expect((await parseCsr(spliced)).signatureValid).toBe(false);
    }
  });
});

describe("plain CSRs read straight from the DER", () => {
  it("give what the full decoder gives", async () => {
    for (const keyType of ["ec-p384", "ec-p256", "rsa-2048"] as const) {
      const csr = await createCsr("sorter-01_line.a:b", await generateKeyPair(keyType));
      expect(plainCsrFields(csr.der)).toBeDefined();
      const { verify: _fast, ...fast } = csrParts(csr.der);
      const { verify: _decoded, ...decoded } = decodedCsrParts(csr.der);
      expect({ ...fast, spki: Buffer.from(fast.spki) }).toEqual({
        ...decoded,
        spki: Buffer.from(decoded.spki),
      });
    }
  });

  it("leave other subjects, attributes and truncated input to the full decoder", async () => {
    await using dir = await tempDir();
    const keyFile = join(dir.path, "key.pem");
    await writeFile(keyFile, privateKeyToPem(device.privateKey));
    const opensslCsr = async (...args: string[]): Promise<Uint8Array> => {
      const { stdout } = await openssl(["req", "-new", "-key", keyFile, "-outform", "PEM", ...args]);
      return pemToDer(stdout);
    };
    const plain = await opensslCsr("-subj", "/CN=dev-1");
    const withOrganization = await opensslCsr("-subj", "/CN=dev-1/O=Contoso");
    const escaped = await opensslCsr("-subj", "/CN=a\\, b");
    const withExtension = await opensslCsr("-subj", "/CN=dev-1", "-addext", "subjectAltName=DNS:dev-1");
    expect(plainCsrFields(plain)?.commonName).toBe("dev-1");
    for (const der of [withOrganization, escaped, withExtension, plain.subarray(0, plain.length - 1)]) {
      expect(plainCsrFields(der)).toBeUndefined();
    }
    expect((await parseCsr(withOrganization)).subject).toBe("CN=dev-1, O=Contoso");
    expect((await parseCsr(escaped)).commonName).toBe("a, b");
    expect((await parseCsr(withExtension)).signatureValid).toBe(true);
  });
});

const pemToDer = (pem: string): Uint8Array =>
  Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");

/** `target`'s to-be-signed part with `donor`'s signature algorithm and signature (both DER CSRs). */
function spliceSignature(target: Uint8Array, donor: Uint8Array): Uint8Array {
  const tbs = signedPart(target);
  const donorTbs = signedPart(donor);
  const rest = donor.subarray(donorTbs.byteOffset - donor.byteOffset + donorTbs.length);
  const content = Buffer.concat([tbs, rest]);
  const header =
    content.length < 0x100
      ? Buffer.from([0x30, 0x81, content.length])
      : Buffer.from([0x30, 0x82, content.length >> 8, content.length & 0xff]);
  return Buffer.concat([header, content]);
}
