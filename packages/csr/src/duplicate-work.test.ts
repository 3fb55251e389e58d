// Work done once instead of again: a CSR this process built is not verified again before it is sent, a public
// key's SPKI read from a CSR is not exported again, an issued chain's CA links are verified once per process.
// Each shortcut must leave every check in place: these tests feed what a hostile peer or a careless caller would.
import * as nodeCrypto from "node:crypto";
import { createPublicKey, X509Certificate } from "node:crypto";
import type { Clock } from "@skittlesorter/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { childrenOf, readElement } from "./der.ts";
import {
  checkCsrFor,
  checkIssuedChain,
  createCertificateAuthority,
  createCsr,
  generateKeyPair,
  issueCertificate,
  type KeyType,
  parseCsr,
} from "./index.ts";
import { spkiDer } from "./keys.ts";
import { certificateToWire, csrDer, toWire } from "./pem.ts";

// node:crypto's verify, counted: the CSR checks call it through this module.
vi.mock("node:crypto", async (original) => {
  const actual = await original<typeof import("node:crypto")>();
  return { ...actual, verify: vi.fn(actual.verify) };
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.mocked(nodeCrypto.verify).mockClear();
});

describe("a CSR built by this process", () => {
  it("is not verified again before it is sent; one from elsewhere is", async () => {
    const keyPair = await generateKeyPair("ec-p384");
    const csr = await createCsr("device-1", keyPair);
    vi.mocked(nodeCrypto.verify).mockClear();
    const ours = await checkCsrFor(csr.wire, { commonName: "device-1", publicKey: keyPair.publicKey });
    expect(ours.valid).toBe(true);
    expect(nodeCrypto.verify).not.toHaveBeenCalled();
    // The same bytes as PEM did not come from createCsr's wire form here: verified.
    const asPem = await checkCsrFor(csr.pem, { commonName: "device-1", publicKey: keyPair.publicKey });
    expect(asPem.valid).toBe(true);
    expect(nodeCrypto.verify).toHaveBeenCalledTimes(1);
  });

  it("is checked like any other: its facts are parseCsr's, a wrong CN or key is refused", async () => {
    const keyPair = await generateKeyPair("ec-p384");
    const other = await generateKeyPair("ec-p384");
    const csr = await createCsr("device-1", keyPair);
    const checked = await checkCsrFor(csr.wire, { commonName: "device-1", publicKey: keyPair.publicKey });
    const parsed = await parseCsr(csr.wire);
    expect(checked.valid).toBe(true);
    if (checked.valid)
      expect({ ...checked.info, publicKey: undefined }).toEqual({ ...parsed, publicKey: undefined });
    expect(
      await checkCsrFor(csr.wire, { commonName: "device-2", publicKey: keyPair.publicKey }),
    ).toMatchObject({
      valid: false,
      problem: expect.stringContaining('must equal the expected CN "device-2"'),
    });
    expect(await checkCsrFor(csr.wire, { commonName: "device-1", publicKey: other.publicKey })).toMatchObject(
      {
        valid: false,
        problem: expect.stringContaining("does not carry the given public key"),
      },
    );
  });

  it("loses the shortcut once altered: a changed signature is refused", async () => {
    const keyPair = await generateKeyPair("ec-p384");
    const csr = await createCsr("device-1", keyPair);
    const der = Buffer.from(csrDer(csr.wire));
    der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0x01; // inside the signature's INTEGER s
    const verdict = await checkCsrFor(toWire(der), { commonName: "device-1", publicKey: keyPair.publicKey });
    expect(verdict).toMatchObject({
      valid: false,
      problem: expect.stringContaining("signature does not verify"),
    });
  });
});

describe("a public key read from a CSR", () => {
  it.each(["ec-p384", "ec-p256", "rsa-2048"] as const)(
    "has the SPKI node:crypto exports (%s)",
    async (keyType) => {
      const keyPair = await generateKeyPair(keyType as KeyType);
      const info = await parseCsr((await createCsr("spki-1", keyPair)).wire);
      expect(spkiDer(info.publicKey)).toEqual(info.publicKey.export({ type: "spki", format: "der" }));
      expect(spkiDer(info.publicKey)).toEqual(keyPair.publicKey.export({ type: "spki", format: "der" }));
    },
  );

  it("from a compressed point is exported, not taken as given", async () => {
    const keyPair = await generateKeyPair("ec-p256");
    const jwk = keyPair.publicKey.export({ format: "jwk" });
    const x = Buffer.from(jwk.x ?? "", "base64url");
    const y = Buffer.from(jwk.y ?? "", "base64url");
    const compressed = Buffer.concat([
      Buffer.from("3039301306072a8648ce3d020106082a8648ce3d030107032200", "hex"),
      Buffer.from([(y[y.length - 1] ?? 0) & 1 ? 0x03 : 0x02]),
      x,
    ]);
    const key = createPublicKey({ key: compressed, format: "der", type: "spki" });
    expect(spkiDer(key)).toEqual(key.export({ type: "spki", format: "der" }));
  });
});

describe("an issued chain's CA links", () => {
  const clock: Clock = { now: () => Date.now(), setTimeout: () => undefined, clearTimeout: () => {} };

  /** The same certificate with one bit of its signature flipped. */
  function withBadSignature(pem: string): string {
    const der = Buffer.from(csrDer(certificateToWire(pem)));
    const [, , signature] = childrenOf(der, readElement(der, 0));
    if (signature === undefined) throw new Error("no signature");
    der[signature.end - 2] = (der[signature.end - 2] ?? 0) ^ 0x01;
    return toWire(der);
  }

  it("are verified again when their bytes differ from a chain already checked", async () => {
    const root = await createCertificateAuthority({ commonName: "Links Root", validityDays: 10 });
    const issuing = await createCertificateAuthority({
      commonName: "Links CA",
      validityDays: 10,
      issuer: root,
    });
    const keyPair = await generateKeyPair("ec-p384");
    const leaf = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: "dev",
      issuer: issuing,
      validityDays: 1,
    });
    const good = [leaf, issuing.certificatePem, root.certificatePem].map(certificateToWire);
    const options = { commonName: "dev", publicKey: keyPair.publicKey, clock };
    expect(checkIssuedChain(good, options).valid).toBe(true);
    expect(checkIssuedChain(good, options).valid).toBe(true);
    const verify = vi.spyOn(X509Certificate.prototype, "verify");
    const renewed = await issueCertificate({
      publicKey: keyPair.publicKey,
      commonName: "dev",
      issuer: issuing,
      validityDays: 1,
    });
    expect(checkIssuedChain([certificateToWire(renewed), ...good.slice(1)], options).valid).toBe(true);
    expect(verify).toHaveBeenCalledTimes(1); // the new leaf; the CA links were verified before
    const forgedCa = [good[0] ?? "", withBadSignature(issuing.certificatePem), good[2] ?? ""];
    expect(checkIssuedChain(forgedCa, options)).toMatchObject({
      valid: false,
      problems: [expect.stringContaining("signature does not verify")],
    });
    // An impostor CA with the same name and a key of its own.
    const impostor = await createCertificateAuthority({
      commonName: "Links CA",
      validityDays: 10,
      issuer: root,
    });
    const swapped = [good[0] ?? "", certificateToWire(impostor.certificatePem), good[2] ?? ""];
    expect(checkIssuedChain(swapped, options).valid).toBe(false);
  });
});
