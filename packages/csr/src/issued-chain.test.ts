import type { KeyObject } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  certificateToWire,
  checkIssuedChain,
  createCertificateAuthority,
  generateKeyPair,
  type IssuerRef,
  issueCertificate,
  type KeyPair,
} from "./index.ts";

function issuerOf(ca: { certificatePem: string; privateKey: KeyObject }): IssuerRef {
  return { certificatePem: ca.certificatePem, privateKey: ca.privateKey };
}

let rootWire: string;
let icaWire: string;
let ica: Awaited<ReturnType<typeof createCertificateAuthority>>;
let leafKeys: KeyPair;
let otherKeys: KeyPair;

async function leafWire(
  commonName: string,
  publicKey: KeyObject,
  issuer: IssuerRef = issuerOf(ica),
): Promise<string> {
  return certificateToWire(await issueCertificate({ publicKey, commonName, issuer, validityDays: 30 }));
}

beforeAll(async () => {
  const root = await createCertificateAuthority({
    commonName: "Issued Root",
    validityDays: 365,
    pathLength: 1,
  });
  ica = await createCertificateAuthority({
    commonName: "Issued ICA",
    validityDays: 365,
    pathLength: 0,
    issuer: issuerOf(root),
  });
  rootWire = certificateToWire(root.certificatePem);
  icaWire = certificateToWire(ica.certificatePem);
  [leafKeys, otherKeys] = await Promise.all([generateKeyPair("ec-p256"), generateKeyPair("ec-p256")]);
});

describe("checkIssuedChain", () => {
  it("returns the decoded chain when the CN, the key and the chain all check out", async () => {
    const wire = [await leafWire("device-1", leafKeys.publicKey), icaWire, rootWire];
    const verdict = checkIssuedChain(wire, { commonName: "device-1", publicKey: leafKeys.publicKey });
    expect(verdict.valid).toBe(true);
    if (!verdict.valid) return;
    expect(verdict.chain.pems).toHaveLength(3);
    expect(verdict.chain.certificates.map((facts) => facts.commonName)).toEqual([
      "device-1",
      "Issued ICA",
      "Issued Root",
    ]);
    expect(verdict.chain.bundle).toBe(verdict.chain.pems.join(""));
  });

  it("lists every problem: wrong CN (named by its role), wrong key", async () => {
    const wire = [await leafWire("device-2", otherKeys.publicKey), icaWire, rootWire];
    const verdict = checkIssuedChain(wire, {
      commonName: "device-1",
      commonNameRole: "registration id",
      publicKey: leafKeys.publicKey,
    });
    expect(verdict).toEqual({
      valid: false,
      reason: "rejected",
      problems: [
        'the leaf\'s CN is "device-2", not the registration id "device-1"',
        "the leaf's public key is not the CSR's public key",
      ],
      cause: undefined,
    });
  });

  it("refuses a lone leaf and a chain that does not verify to its root", async () => {
    const lone = checkIssuedChain([await leafWire("device-1", leafKeys.publicKey)], {
      commonName: "device-1",
    });
    expect(lone).toMatchObject({ valid: false, reason: "rejected" });
    expect(lone.valid ? [] : lone.problems).toEqual([expect.stringContaining("holds only the leaf")]);

    const stranger = await createCertificateAuthority({ commonName: "Stranger", validityDays: 365 });
    const broken = checkIssuedChain(
      [await leafWire("device-1", leafKeys.publicKey, issuerOf(stranger)), icaWire, rootWire],
      { commonName: "device-1" },
    );
    expect(broken).toMatchObject({ valid: false, reason: "rejected" });
    expect(broken.valid ? [] : broken.problems.length).toBeGreaterThan(0);
  });

  it("says undecodable, with the cause, for entries that are not base64 DER certificates", () => {
    const verdict = checkIssuedChain(["bm90IGEgY2VydGlmaWNhdGU="], { commonName: "device-1" });
    expect(verdict).toMatchObject({
      valid: false,
      reason: "undecodable",
      problems: [
        expect.stringMatching(/^the entries are not base64 DER certificates \(Chain entry #0 .+\)$/),
      ],
    });
    expect(verdict.valid ? undefined : verdict.cause).toBeInstanceOf(Error);
  });
});
