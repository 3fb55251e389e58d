import { certificateToWire, createCertificateAuthority } from "@skittlesorter/csr";
import { describe, expect, it } from "vitest";
import { caCertificateWire } from "./chain-wire.ts";

describe("caCertificateWire", () => {
  it("is certificateToWire, for each certificate it is given, and refuses what is not a certificate", async () => {
    const [a, b] = await Promise.all(
      ["CA a", "CA b"].map((commonName) => createCertificateAuthority({ commonName, validityDays: 1 })),
    );
    for (const ca of [a, b, a]) {
      expect(caCertificateWire(ca?.certificatePem as string)).toBe(
        certificateToWire(ca?.certificatePem as string),
      );
    }
    expect(() => caCertificateWire("not a certificate")).toThrow(/CERTIFICATE/);
  });
});
