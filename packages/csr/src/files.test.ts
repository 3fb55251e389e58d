import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openssl, tempDir } from "@skittlesorter/test-utils";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type CsrError,
  createCsr,
  generateKeyPair,
  type KeyPair,
  privateKeyToPem,
  publicKeysMatch,
  readPrivateKeyFile,
  writeFileAtomic,
  writePrivateKeyFile,
} from "./index.ts";

let pair: KeyPair;

beforeAll(async () => {
  pair = await generateKeyPair("ec-p256");
});

async function rejection(promise: Promise<unknown>): Promise<CsrError> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error as CsrError,
  );
}

describe("writePrivateKeyFile", () => {
  it("writes PKCS#8 PEM with mode 0600 and leaves no temporary file", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "device.key.pem");
    await writePrivateKeyFile(file, pair.privateKey);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, "utf8")).toBe(privateKeyToPem(pair.privateKey));
    expect(await readdir(dir.path)).toEqual(["device.key.pem"]);
    // openssl reads it as a P-256 key.
    const { stdout } = await openssl(["pkey", "-in", file, "-noout", "-text"]);
    expect(stdout).toContain("P-256");
  });

  it("creates a missing certs/ directory (0700) instead of losing the key", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "certs", "device.key.pem");
    await writePrivateKeyFile(file, pair.privateKey);
    expect((await stat(join(dir.path, "certs"))).mode & 0o777).toBe(0o700);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readPrivateKeyFile(file)).export({ format: "pem", type: "pkcs8" })).toBe(
      privateKeyToPem(pair.privateKey),
    );
  });

  it("refuses to overwrite unless asked to, leaving the old key intact", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "device.key.pem");
    await writePrivateKeyFile(file, pair.privateKey);
    const other = await generateKeyPair("ec-p256");
    const error = await rejection(writePrivateKeyFile(file, other.privateKey));
    expect(error.code).toBe("KEY_FILE_EXISTS");
    expect(error.message).toContain(file);
    expect(await readFile(file, "utf8")).toBe(privateKeyToPem(pair.privateKey));
    expect(await readdir(dir.path)).toEqual(["device.key.pem"]);
    await writePrivateKeyFile(file, privateKeyToPem(other.privateKey), { overwrite: true });
    expect(await readFile(file, "utf8")).toBe(privateKeyToPem(other.privateKey));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir.path)).toEqual(["device.key.pem"]);
  });

  it("refuses a public key or a non-key string", async () => {
    await using dir = await tempDir();
    expect((await rejection(writePrivateKeyFile(join(dir.path, "a"), pair.publicKey))).code).toBe(
      "KEY_INVALID",
    );
    expect((await rejection(writePrivateKeyFile(join(dir.path, "b"), "not a key"))).code).toBe("KEY_INVALID");
    expect(await readdir(dir.path)).toEqual([]);
  });
});

describe("writeFileAtomic", () => {
  it("replaces the file through a rename (new inode), with the mode asked for", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "issued.pem");
    await writeFile(file, "old");
    const before = await stat(file);
    await writeFileAtomic(file, "new content", { mode: 0o640 });
    const after = await stat(file);
    expect(await readFile(file, "utf8")).toBe("new content");
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o777).toBe(0o640);
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(file))]).toEqual([1, 2, 3]);
    expect(await readdir(dir.path)).toEqual(["issued.pem"]);
  });

  it("creates missing parent directories with mode 0700", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "certs", "issued", "f.pem");
    await writeFileAtomic(file, "x", { mode: 0o644 });
    expect(await readFile(file, "utf8")).toBe("x");
    expect((await stat(join(dir.path, "certs"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir.path, "certs", "issued"))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(dir.path, "certs", "issued"))).toEqual(["f.pem"]);
  });

  it("fails with FILE_WRITE_FAILED when a parent is a file, leaving nothing behind", async () => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, "plain"), "");
    const error = await rejection(writeFileAtomic(join(dir.path, "plain", "f.pem"), "x"));
    expect(error.code).toBe("FILE_WRITE_FAILED");
    expect(error.message).toContain(join(dir.path, "plain", "f.pem"));
    expect(await readdir(dir.path)).toEqual(["plain"]);
  });

  it("fails when the target is a directory, removing its temporary file", async () => {
    await using dir = await tempDir();
    await mkdir(join(dir.path, "taken"));
    const error = await rejection(writeFileAtomic(join(dir.path, "taken"), "x"));
    expect(error.code).toBe("FILE_WRITE_FAILED");
    expect(await readdir(dir.path)).toEqual(["taken"]);
  });

  it("rejects with the abort reason and writes nothing", async () => {
    await using dir = await tempDir();
    const reason = new Error("stop");
    await expect(
      writeFileAtomic(join(dir.path, "f"), "x", { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect(await readdir(dir.path)).toEqual([]);
  });
});

describe("readPrivateKeyFile", () => {
  it("reads back what writePrivateKeyFile wrote", async () => {
    await using dir = await tempDir();
    const file = join(dir.path, "k.pem");
    await writePrivateKeyFile(file, pair.privateKey);
    const key = await readPrivateKeyFile(file);
    expect(key.type).toBe("private");
    expect(publicKeysMatch(key, pair.publicKey)).toBe(true);
  });

  it("reads openssl's traditional RSA and SEC1 EC keys, and PKCS#8 DER", async () => {
    await using dir = await tempDir();
    const rsa = join(dir.path, "rsa.pem");
    await openssl([
      "genpkey",
      "-algorithm",
      "RSA",
      "-pkeyopt",
      "rsa_keygen_bits:2048",
      "-out",
      join(dir.path, "p8.pem"),
    ]);
    await openssl(["pkey", "-in", join(dir.path, "p8.pem"), "-traditional", "-out", rsa]);
    expect(await readFile(rsa, "utf8")).toContain("BEGIN RSA PRIVATE KEY");
    expect((await readPrivateKeyFile(rsa)).asymmetricKeyType).toBe("rsa");
    const ec = join(dir.path, "ec.pem");
    await openssl(["ecparam", "-name", "secp384r1", "-genkey", "-out", ec]); // EC PARAMETERS + EC PRIVATE KEY
    expect((await readPrivateKeyFile(ec)).asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    const der = join(dir.path, "k.der");
    await writeFile(der, pair.privateKey.export({ type: "pkcs8", format: "der" }));
    expect(publicKeysMatch(await readPrivateKeyFile(der), pair.publicKey)).toBe(true);
  });

  it("says clearly when the file is missing", async () => {
    await using dir = await tempDir();
    const error = await rejection(readPrivateKeyFile(join(dir.path, "nope.pem")));
    expect(error.code).toBe("KEY_FILE_NOT_FOUND");
    expect(error.message).toContain("nope.pem");
    expect(error.message).toMatch(/does not exist/);
  });

  it("says clearly when the file holds a certificate, a CSR, an encrypted key or junk", async () => {
    await using dir = await tempDir();
    const keyFile = join(dir.path, "k.pem");
    await writeFile(keyFile, privateKeyToPem(pair.privateKey));
    const { stdout: cert } = await openssl([
      "req",
      "-x509",
      "-new",
      "-key",
      keyFile,
      "-subj",
      "/CN=c",
      "-days",
      "1",
    ]);
    const certFile = join(dir.path, "cert.pem");
    await writeFile(certFile, cert);
    const certError = await rejection(readPrivateKeyFile(certFile));
    expect(certError.code).toBe("KEY_FILE_INVALID");
    expect(certError.message).toMatch(/holds a certificate/);

    const csrFile = join(dir.path, "req.pem");
    await writeFile(csrFile, (await createCsr("dev", pair)).pem);
    expect((await rejection(readPrivateKeyFile(csrFile))).message).toMatch(/certificate signing request/);

    const encrypted = join(dir.path, "enc.pem");
    await openssl(["pkcs8", "-topk8", "-in", keyFile, "-out", encrypted, "-passout", "pass:secret"]);
    const encError = await rejection(readPrivateKeyFile(encrypted));
    expect(encError.code).toBe("KEY_FILE_INVALID");
    expect(encError.message).toMatch(/encrypted/);

    const junk = join(dir.path, "junk.bin");
    await writeFile(junk, "just some text");
    expect((await rejection(readPrivateKeyFile(junk))).code).toBe("KEY_FILE_INVALID");

    const damaged = join(dir.path, "damaged.pem");
    const body = privateKeyToPem(pair.privateKey).split("\n");
    await writeFile(damaged, [body[0], "AAAA", body.at(-2), ""].join("\n"));
    const damagedError = await rejection(readPrivateKeyFile(damaged));
    expect(damagedError.code).toBe("KEY_FILE_INVALID");
    expect(damagedError.message).not.toContain(body[1] as string);
  });

  it("reports a directory as unreadable", async () => {
    await using dir = await tempDir();
    expect((await rejection(readPrivateKeyFile(dir.path))).code).toBe("FILE_READ_FAILED");
  });
});
