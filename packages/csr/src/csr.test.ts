import { generateKeyPairSync } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openssl, tempDir } from "@skittlesorter/test-utils";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Csr,
  CsrError,
  checkCsrFor,
  createCsr,
  csrFromWire,
  csrToWire,
  generateKeyPair,
  isCsrError,
  KEY_TYPES,
  type KeyPair,
  type KeyType,
  keyTypeOf,
  parseCsr,
  privateKeyToPem,
  publicKeysMatch,
  publicKeyToPem,
} from "./index.ts";

const REGISTRATION_ID = "sorter-01_line.a:b";

async function expectCsrError(promise: Promise<unknown>, code: string): Promise<CsrError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCsrError(error)).toBe(true);
  expect((error as CsrError).code).toBe(code);
  return error as CsrError;
}

const pairs = new Map<KeyType, KeyPair>();
const csrs = new Map<KeyType, Csr>();

beforeAll(async () => {
  // One key pair per type for the whole file (RSA-4096 only here).
  for (const keyType of KEY_TYPES) {
    const pair = await generateKeyPair(keyType);
    pairs.set(keyType, pair);
    csrs.set(keyType, await createCsr(REGISTRATION_ID, pair));
  }
}, 120_000);

describe.each(KEY_TYPES)("createCsr with %s", (keyType) => {
  const pair = (): KeyPair => pairs.get(keyType) as KeyPair;
  const csr = (): Csr => csrs.get(keyType) as Csr;

  it("makes a key pair of that type", () => {
    expect(pair().keyType).toBe(keyType);
    expect(keyTypeOf(pair().privateKey)).toBe(keyType);
    expect(keyTypeOf(pair().publicKey)).toBe(keyType);
    expect(csr().keyType).toBe(keyType);
  });

  it("is accepted by openssl req -verify with CN = registration id and the pair's public key", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "req.pem");
    await writeFile(file, csr().pem);
    const verified = await openssl(["req", "-in", file, "-noout", "-verify", "-subject"]);
    expect(`${verified.stdout}${verified.stderr}`).toMatch(/verify OK/i);
    expect(verified.stdout).toMatch(
      new RegExp(`subject=\\s*CN\\s*=\\s*${REGISTRATION_ID.replaceAll(".", "\\.")}\\s*$`, "m"),
    );
    const { stdout: pubkey } = await openssl(["req", "-in", file, "-noout", "-pubkey"]);
    expect(pubkey.trim()).toBe(publicKeyToPem(pair().publicKey).trim());
    const { stdout: text } = await openssl(["req", "-in", file, "-noout", "-text"]);
    expect(text).toContain(
      keyType === "ec-p384"
        ? "ecdsa-with-SHA384"
        : keyType === "ec-p256"
          ? "ecdsa-with-SHA256"
          : "sha256WithRSAEncryption",
    );
    expect(text).not.toMatch(/X509v3/); // subject CN only, no extensions
  });

  it("has a wire form without armour or newlines that round-trips", () => {
    const { wire, pem, der } = csr();
    expect(wire).not.toMatch(/[\r\n]|-----/);
    expect(Buffer.from(wire, "base64").equals(Buffer.from(der))).toBe(true);
    expect(csrToWire(pem)).toBe(wire);
    expect(csrToWire(der)).toBe(wire);
    expect(csrToWire(wire)).toBe(wire);
    expect(csrFromWire(wire)).toBe(pem);
    expect(pem).toMatch(
      /^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE REQUEST-----\n$/,
    );
  });

  it("parses back from PEM, DER and wire with a valid signature", async () => {
    for (const input of [csr().pem, csr().der, csr().wire]) {
      const info = await parseCsr(input);
      expect(info.commonName).toBe(REGISTRATION_ID);
      expect(info.subject).toBe(`CN=${REGISTRATION_ID}`);
      expect(info.keyType).toBe(keyType);
      expect(info.signatureValid).toBe(true);
      expect(info.pem).toBe(csr().pem);
      expect(publicKeysMatch(info.publicKey, pair().publicKey)).toBe(true);
    }
  });
});

describe("parseCsr", () => {
  it("rejects garbage with CSR_INVALID and a clear message", async () => {
    const error = await expectCsrError(parseCsr("hello, this is not a CSR"), "CSR_INVALID");
    expect(error.message).toMatch(/PEM|base64/);
    await expectCsrError(parseCsr(""), "CSR_INVALID");
    await expectCsrError(parseCsr(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), "CSR_INVALID");
    await expectCsrError(parseCsr(Buffer.from("not der at all")), "CSR_INVALID");
    await expectCsrError(
      parseCsr("-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n"),
      "CSR_INVALID",
    );
  });

  it("rejects a truncated CSR and a PEM that holds something else", async () => {
    const { der } = csrs.get("ec-p256") as Csr;
    await expectCsrError(parseCsr(der.subarray(0, der.length - 10)), "CSR_INVALID");
    const notACsr = privateKeyToPem((pairs.get("ec-p256") as KeyPair).privateKey);
    const error = await expectCsrError(parseCsr(notACsr), "CSR_INVALID");
    expect(error.message).toContain("CERTIFICATE REQUEST");
    expect(error.message).not.toContain(notACsr.split("\n")[1] as string);
  });

  it("reports a tampered CSR as not signature-valid, and refuses it when asked to", async () => {
    for (const keyType of ["ec-p384", "rsa-2048"] as const) {
      const { der } = csrs.get(keyType) as Csr;
      const tampered = Buffer.from(der);
      const at = tampered.indexOf(Buffer.from("sorter-01"));
      expect(at).toBeGreaterThan(0);
      tampered[at] = "t".charCodeAt(0); // CN "torter-01…": same length, so it still parses
      const info = await parseCsr(tampered);
      expect(info.commonName).toBe(`t${REGISTRATION_ID.slice(1)}`);
      expect(info.signatureValid).toBe(false);
      const error = await expectCsrError(parseCsr(tampered, { requireValidSignature: true }), "CSR_INVALID");
      expect(error.message).toMatch(/signature/);
    }
  });

  it("refuses a CSR with a key type outside the supported ones", async () => {
    await using dir = await tempDir();
    const key = join(dir.path, "ed.key");
    await openssl(["genpkey", "-algorithm", "ed25519", "-out", key]);
    const { stdout } = await openssl(["req", "-new", "-key", key, "-subj", "/CN=ed"]);
    await expectCsrError(parseCsr(stdout), "CSR_UNSUPPORTED_KEY_TYPE");
  });

  it("refuses CSRs signed with SHA-1 or MD5 with CSR_WEAK_SIGNATURE, and takes SHA-2 ones", async () => {
    await using dir = await tempDir();
    const ecKey = join(dir.path, "ec.pem");
    const rsaKey = join(dir.path, "rsa.pem");
    await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ecKey]);
    await openssl(["genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsaKey]);
    const csrOf = async (key: string, ...digest: string[]) =>
      (await openssl(["req", "-new", "-key", key, "-subj", "/CN=weak", ...digest])).stdout;
    for (const [key, digest, named] of [
      [ecKey, "-sha1", /ECDSA with SHA-1/],
      [rsaKey, "-sha1", /RSASSA-PKCS1-v1_5 with SHA-1/],
      [rsaKey, "-md5", /MD5 with RSA/],
    ] as const) {
      const error = await expectCsrError(parseCsr(await csrOf(key, digest)), "CSR_WEAK_SIGNATURE");
      expect(error.message).toMatch(named);
      expect(error.message).toMatch(/SHA-256/);
    }
    for (const [key, ...digest] of [
      [ecKey, "-sha256"],
      [rsaKey, "-sha512"],
      [rsaKey, "-sha256", "-sigopt", "rsa_padding_mode:pss"],
    ]) {
      expect((await parseCsr(await csrOf(key ?? "", ...digest))).signatureValid).toBe(true);
    }
  });

  it("reads an openssl-made CSR", async () => {
    await using dir = await tempDir();
    const key = join(dir.path, "k.pem");
    await openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", key]);
    const { stdout } = await openssl(["req", "-new", "-key", key, "-subj", "/CN=from-openssl", "-sha384"]);
    const info = await parseCsr(stdout);
    expect(info).toMatchObject({ commonName: "from-openssl", keyType: "ec-p384", signatureValid: true });
  });
});

describe("checkCsrFor", () => {
  it("returns the parsed CSR when it is for this CN and this key", async () => {
    const keyPair = await generateKeyPair("ec-p256");
    const csr = await createCsr("sorter-1", keyPair);
    const verdict = await checkCsrFor(csr.wire, { commonName: "sorter-1", publicKey: keyPair.publicKey });
    expect(verdict).toMatchObject({ valid: true, info: { commonName: "sorter-1", signatureValid: true } });
  });

  it("names a CN that is not the expected id, by its role", async () => {
    const keyPair = await generateKeyPair("ec-p256");
    const csr = await createCsr("sorter-2", keyPair);
    const verdict = await checkCsrFor(csr.pem, {
      commonName: "sorter-1",
      commonNameRole: "device id",
      publicKey: keyPair.publicKey,
    });
    expect(verdict).toEqual({
      valid: false,
      problem:
        'The CSR\'s CN is "sorter-2" but must equal the device id "sorter-1"; create it with createCsr("sorter-1", keyPair).',
      cause: undefined,
    });
  });

  it("refuses a CSR made with another key, and one that does not parse (with the cause)", async () => {
    const [keyPair, other] = await Promise.all([generateKeyPair("ec-p256"), generateKeyPair("ec-p256")]);
    const csr = await createCsr("sorter-1", keyPair);
    const wrongKey = await checkCsrFor(csr.wire, { commonName: "sorter-1", publicKey: other.publicKey });
    expect(wrongKey).toMatchObject({ valid: false, problem: expect.stringContaining("given public key") });
    const garbage = await checkCsrFor("bm90IGEgQ1NS", {
      commonName: "sorter-1",
      publicKey: keyPair.publicKey,
    });
    expect(garbage).toMatchObject({
      valid: false,
      problem: expect.stringContaining("not a readable PKCS#10 CSR"),
    });
    expect(garbage.valid ? undefined : garbage.cause).toBeInstanceOf(CsrError);
  });

  it("rejects with the signal's reason when aborted, not with a verdict", async () => {
    const keyPair = await generateKeyPair("ec-p256");
    const csr = await createCsr("sorter-1", keyPair);
    const signal = AbortSignal.abort(new Error("stop"));
    await expect(
      checkCsrFor(csr.wire, { commonName: "sorter-1", publicKey: keyPair.publicKey, signal }),
    ).rejects.toThrow("stop");
  });
});

describe("createCsr input checks", () => {
  it("refuses empty, padded, control-character and over-long common names", async () => {
    const pair = pairs.get("ec-p256") as KeyPair;
    for (const name of ["", " sorter", "sorter ", "sor\nter", "a".repeat(129)]) {
      await expectCsrError(createCsr(name, pair), "CSR_INVALID_SUBJECT");
    }
    const longest = await createCsr("a".repeat(128), pair);
    expect((await parseCsr(longest.wire)).commonName).toBe("a".repeat(128));
  });

  it("refuses a key pair whose halves do not belong together", async () => {
    const a = pairs.get("ec-p256") as KeyPair;
    const b = await generateKeyPair("ec-p256");
    await expectCsrError(createCsr("x", { ...a, publicKey: b.publicKey }), "KEY_PAIR_MISMATCH");
    await expectCsrError(createCsr("x", { ...a, keyType: "ec-p384" }), "KEY_PAIR_MISMATCH");
  });

  it("refuses unsupported keys", async () => {
    const ed = generateKeyPairSync("ed25519");
    await expectCsrError(createCsr("x", { keyType: "ec-p384", ...ed }), "CSR_UNSUPPORTED_KEY_TYPE");
    expect(() => keyTypeOf(ed.publicKey)).toThrow(CsrError);
    const p521 = generateKeyPairSync("ec", { namedCurve: "P-521" });
    expect(() => keyTypeOf(p521.privateKey)).toThrow(/P-384/);
  });

  it("honours an aborted signal", async () => {
    const reason = new Error("stop");
    await expect(
      createCsr("x", pairs.get("ec-p256") as KeyPair, { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
  });
});

describe("generateKeyPair", () => {
  it("defaults to EC P-384", async () => {
    const pair = await generateKeyPair();
    expect(pair.keyType).toBe("ec-p384");
    expect(pair.privateKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
  });

  it("refuses an unknown key type", async () => {
    await expectCsrError(generateKeyPair("dsa-1024" as KeyType), "CSR_UNSUPPORTED_KEY_TYPE");
  });

  it("rejects with the abort reason", async () => {
    const controller = new AbortController();
    const pending = generateKeyPair("ec-p256", { signal: controller.signal });
    const reason = new Error("cancelled");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it("exports the private key as PKCS#8 PEM and refuses a public key", () => {
    const pair = pairs.get("rsa-2048") as KeyPair;
    expect(privateKeyToPem(pair.privateKey)).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(() => privateKeyToPem(pair.publicKey)).toThrow(expect.objectContaining({ code: "KEY_INVALID" }));
  });
});
