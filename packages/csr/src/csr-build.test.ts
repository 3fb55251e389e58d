import { verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { directlyEncodableCsr, ecCsrDer } from "./csr-build.ts";
import { childrenOf, contentsOf, readElement, signedPart } from "./der.ts";
import { createCsr, generateKeyPair, type KeyPair, parseCsr } from "./index.ts";
import { defaultHashFor, spkiDer, webSigningAlgorithms } from "./keys.ts";
import { x509 } from "./libs.ts";
import { nodeSigningCrypto, nodeSigningKey } from "./node-signer.ts";

/** The CSR @peculiar/x509 builds for the same input (what createCsr used before it encoded EC CSRs itself). */
async function peculiarCsr(
  commonName: string,
  keyPair: KeyPair,
  hash: "SHA-256" | "SHA-384",
): Promise<Uint8Array> {
  const keyType = hash === "SHA-384" ? "ec-p384" : "ec-p256";
  const request = await x509().Pkcs10CertificateRequestGenerator.create(
    {
      name: [{ CN: [commonName] }],
      keys: {
        privateKey: nodeSigningKey(keyPair.privateKey, hash),
        publicKey: nodeSigningKey(keyPair.publicKey, hash),
      },
      signingAlgorithm: webSigningAlgorithms(keyType, hash).signingAlgorithm,
    },
    nodeSigningCrypto,
  );
  return new Uint8Array(request.rawData);
}

/** A CSR's parts; two ECDSA signatures of the same request differ only in the signature's bytes. */
function partsOf(der: Uint8Array): { info: Buffer; algorithm: Buffer } {
  const [info, algorithm] = childrenOf(der, readElement(der, 0));
  if (info === undefined || algorithm === undefined) throw new Error("not a CSR");
  return {
    info: Buffer.from(der.subarray(info.start, info.end)),
    algorithm: Buffer.from(der.subarray(algorithm.start, algorithm.end)),
  };
}

describe("EC CSRs encoded directly", () => {
  it.each([
    ["ec-p384", "device-1"],
    ["ec-p256", "device-1"],
    ["ec-p384", "sorter_01"],
    ["ec-p256", "Gerät-ü"],
    ["ec-p384", "a, + = #name; <x>"],
    ["ec-p384", "x".repeat(128)],
  ] as const)(
    "are the bytes @peculiar/x509 makes, signature aside (%s, CN %s)",
    async (keyType, commonName) => {
      expect(directlyEncodableCsr(commonName)).toBe(true);
      const keyPair = await generateKeyPair(keyType);
      const hash = defaultHashFor(keyType);
      const ours = ecCsrDer(commonName, spkiDer(keyPair.publicKey), keyPair.privateKey, hash);
      const theirs = await peculiarCsr(commonName, keyPair, hash);
      expect(partsOf(ours)).toEqual(partsOf(theirs));
      const signature = childrenOf(ours, readElement(ours, 0))[2];
      if (signature === undefined) throw new Error("no signature");
      const signatureValue = Buffer.from(contentsOf(ours, signature).subarray(1)); // after the unused-bits byte
      expect(verify(hash.replace("-", ""), signedPart(ours), keyPair.publicKey, signatureValue)).toBe(true);
    },
  );

  it("are what createCsr returns, and verify as a CSR", async () => {
    const keyPair = await generateKeyPair("ec-p384");
    const csr = await createCsr("device-7", keyPair);
    expect(partsOf(csr.der)).toEqual(partsOf(await peculiarCsr("device-7", keyPair, "SHA-384")));
    const info = await parseCsr(csr.pem, { requireValidSignature: true });
    expect(info).toMatchObject({ commonName: "device-7", keyType: "ec-p384", signatureValid: true });
  });

  it.each(['a "quoted" name', "back\\slash"])(
    "leave names @peculiar/x509 reads specially to it (CN %s)",
    async (commonName) => {
      expect(directlyEncodableCsr(commonName)).toBe(false);
      expect(directlyEncodableCsr(`#${commonName.replace(/["\\]/g, "")}`)).toBe(false);
      const keyPair = await generateKeyPair("ec-p256");
      const csr = await createCsr(commonName, keyPair);
      expect(partsOf(csr.der)).toEqual(partsOf(await peculiarCsr(commonName, keyPair, "SHA-256")));
    },
  );
});
