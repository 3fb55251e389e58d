import { describe, expect, it } from "vitest";
import { certificateFacts, createCertificateAuthority, generateKeyPair, type KeyType } from "./index.ts";
import { issueCertificateWithFacts } from "./issued.ts";
import { certificateToWire } from "./pem.ts";

describe("issueCertificateWithFacts", () => {
  it.each([
    ["ec-p384", "sorter-01_line.a:b", {}],
    ["ec-p256", "x", { serialNumber: "00ff01", dnsNames: ["a.example"] }],
    ["ec-p384", "odd", { serialNumber: "abc" }],
    ["ec-p384", "padded", { serialNumber: "0000000a01" }],
    ["rsa-2048", "Plain Name (lab) 'x'", { extendedKeyUsage: ["clientAuth"] }],
    // Names node:crypto prints escaped, or @peculiar/x509 encodes: the facts come from parsing the certificate.
    ["ec-p384", "a,b+c=d", {}],
    ["ec-p384", " leading space", {}],
    ["ec-p384", "Ünïcode", {}],
    ["ec-p384", 'quote"d', {}],
  ] as const)(
    "reports what certificateFacts reads back (issuer %s, CN %j)",
    async (issuerType, commonName, extra) => {
      const ca = await createCertificateAuthority({
        commonName: "Facts CA",
        validityDays: 100,
        keyType: issuerType as KeyType,
      });
      const subject = await generateKeyPair("ec-p256");
      for (let round = 0; round < 4; round++) {
        const issued = await issueCertificateWithFacts({
          publicKey: subject.publicKey,
          commonName,
          issuer: ca,
          validityDays: 30,
          ...extra,
        });
        const parsed = certificateFacts(issued.pem);
        expect(issued.facts).toEqual({
          subject: parsed.subject,
          commonName: parsed.commonName,
          serialNumber: parsed.serialNumber,
          notBefore: parsed.notBefore,
          notAfter: parsed.notAfter,
          sha1Thumbprint: parsed.sha1Thumbprint,
          sha256Thumbprint: parsed.sha256Thumbprint,
        });
        expect(issued.wire).toBe(certificateToWire(issued.pem));
        expect(issued.der.toString("base64")).toBe(issued.wire);
      }
    },
  );
});
