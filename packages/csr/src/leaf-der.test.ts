import { X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "@skittlesorter/core";
import { openssl, tempDir } from "@skittlesorter/test-utils";
import { describe, expect, it } from "vitest";
import { type IssueCertificateOptions, issueLeaf } from "./ca.ts";
import { childrenOf, readElement } from "./der.ts";
import { createCertificateAuthority, generateKeyPair, type KeyType } from "./index.ts";
import { spkiDer } from "./keys.ts";
import { keyIdentifier, leafCertificateDer, subjectNameDer } from "./leaf-der.ts";
import { toPem } from "./pem.ts";

const at = (iso: string): Clock => ({
  now: () => Date.parse(iso),
  setTimeout: () => undefined,
  clearTimeout: () => {},
});

/** The to-be-signed part of a PEM certificate (what differs between two ECDSA signatures of it is only the signature). */
function tbsOf(pem: string): Buffer {
  const der = new Uint8Array(new X509Certificate(pem).raw);
  const tbs = childrenOf(der, readElement(der, 0))[0];
  if (tbs === undefined) throw new Error("no TBS");
  return Buffer.from(der.subarray(tbs.start, tbs.end));
}

describe("leaf certificates encoded directly", () => {
  it.each([
    ["ec-p384", "ec-p384", { extendedKeyUsage: ["clientAuth"], hash: "SHA-384" }],
    ["ec-p256", "ec-p384", { dnsNames: ["a.example"], ipAddresses: ["127.0.0.1"], serialNumber: "00ff01" }],
    [
      "rsa-2048",
      "ec-p256",
      { extendedKeyUsage: ["serverAuth", "clientAuth"], criticalBasicConstraints: false },
    ],
    ["ec-p384", "rsa-2048", { hash: "SHA-256" }],
  ] as const)(
    "are the bytes @peculiar/x509 makes (subject %s, issuer %s)",
    async (subjectType, issuerType, extra) => {
      const ca = await createCertificateAuthority({
        commonName: "Direct CA",
        validityDays: 10_000,
        keyType: issuerType as KeyType,
      });
      const subject = await generateKeyPair(subjectType as KeyType);
      for (const [commonName, year] of [
        ["sorter-01_line.a:b", "2026"],
        ["Plain Name", "2051"], // PrintableString; GeneralizedTime after 2049
      ]) {
        const options: IssueCertificateOptions = {
          publicKey: subject.publicKey,
          commonName: commonName as string,
          issuer: { certificatePem: ca.certificatePem, privateKey: ca.privateKey },
          validityDays: 30,
          serialNumber: "1234abcd",
          clock: at(`${year}-03-04T05:06:07.890Z`),
          ...extra,
        };
        const caCertificate = new X509Certificate(ca.certificatePem);
        const now = options.clock?.now() ?? 0;
        const direct = leafCertificateDer({
          serialNumber: options.serialNumber as string,
          issuerName: subjectNameDer(new Uint8Array(caCertificate.raw)),
          issuerKeyId: keyIdentifier(spkiDer(caCertificate.publicKey)),
          issuerKey: ca.privateKey,
          signature: issuerType === "rsa-2048" ? "RSA" : "ECDSA",
          hash: options.hash ?? (issuerType === "ec-p384" ? "SHA-384" : "SHA-256"),
          notBefore: new Date(now - 5 * 60 * 1000),
          notAfter: new Date(now + 30 * 24 * 60 * 60 * 1000),
          commonName: options.commonName,
          subjectSpki: spkiDer(subject.publicKey),
          criticalBasicConstraints: options.criticalBasicConstraints ?? true,
          keyEncipherment: subjectType === "rsa-2048",
          extendedKeyUsage: options.extendedKeyUsage ?? [],
          dnsNames: options.dnsNames ?? [],
          ipAddresses: options.ipAddresses ?? [],
        });
        const decoder = await issueLeaf(options, { direct: false });
        expect(tbsOf(toPem(direct, "CERTIFICATE")).toString("hex")).toBe(tbsOf(decoder).toString("hex"));
        // issueCertificate's own output (encoded directly) is the same certificate but for the signature.
        const issued = await issueLeaf(options, { direct: true });
        expect(tbsOf(issued).toString("hex")).toBe(tbsOf(decoder).toString("hex"));
        expect(new X509Certificate(direct).verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(
          true,
        );
      }
    },
  );

  it("are accepted by openssl as issued by their CA", async () => {
    const ca = await createCertificateAuthority({ commonName: "Direct CA", validityDays: 1 });
    const subject = await generateKeyPair("ec-p384");
    const leaf = await issueLeaf(
      {
        publicKey: subject.publicKey,
        commonName: "dev-1",
        issuer: { certificatePem: ca.certificatePem, privateKey: ca.privateKey },
        validityDays: 1,
        extendedKeyUsage: ["clientAuth"],
      },
      { direct: true },
    );
    await using dir = await tempDir();
    await writeFile(join(dir.path, "ca.pem"), ca.certificatePem);
    await writeFile(join(dir.path, "leaf.pem"), leaf);
    const { stdout } = await openssl([
      "verify",
      "-purpose",
      "sslclient",
      "-CAfile",
      join(dir.path, "ca.pem"),
      join(dir.path, "leaf.pem"),
    ]);
    expect(stdout).toContain("OK");
  });
});
