import { execFile } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { openssl, type TempDir, tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mqttCredentials } from "./attestation.ts";
import { AttestationError } from "./errors.ts";
import { loadX509Attestation, type X509Source } from "./x509.ts";

let dir: TempDir;
const path = (name: string): string => join(dir.path, name);

/** Self-signed (or CA-signed with `ca`) P-256 certificate `name.pem` with key `name.key`. */
async function makeCert(name: string, subject: string, extra: string[] = [], ca?: string): Promise<void> {
  const signer = ca === undefined ? [] : ["-CA", path(`${ca}.pem`), "-CAkey", path(`${ca}.key`)];
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "2",
    "-subj",
    subject,
    "-keyout",
    path(`${name}.key`),
    "-out",
    path(`${name}.pem`),
    ...signer,
    ...extra,
  ]);
}

async function loadError(source: X509Source): Promise<AttestationError> {
  try {
    await loadX509Attestation(source);
  } catch (error) {
    if (error instanceof AttestationError) return error;
    throw error;
  }
  throw new Error("expected loadX509Attestation to fail");
}

const longCn = `d${"x".repeat(64)}`; // 65 characters

beforeAll(async () => {
  dir = await tempDir();
  await makeCert("root", "/CN=skittle-test-root", ["-addext", "basicConstraints=critical,CA:true"]);
  await makeCert("leaf", "/O=Skittle/CN=Sorter-Pi-01", [], "root");
  await makeCert("other", "/CN=other-device");
  await makeCert("san", "/O=Skittle", ["-addext", "subjectAltName=IP:10.0.0.1,DNS:san-dev-2,DNS:second"]);
  await makeCert("nothing", "/O=Skittle");
  // openssl itself refuses CNs over 64 characters, so the too-long id comes through the SAN fallback.
  await makeCert("long", "/O=Skittle", ["-addext", `subjectAltName=DNS:${longCn}`]);
  await makeCert("badchar", "/CN=dev 1");
  await makeCert("twocn", "/CN=dev-a/CN=dev-b");
  await openssl(["ec", "-in", path("other.key"), "-out", path("other-sec1.key")]);
  const [leaf, root] = await Promise.all([
    readFile(path("leaf.pem"), "utf8"),
    readFile(path("root.pem"), "utf8"),
  ]);
  await writeFile(path("bundle.pem"), leaf + root);
  await writeFile(path("garbage.pem"), "this is not a certificate\n");
  await writeFile(
    path("corrupt.pem"),
    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
  );
}, 60_000);

afterAll(async () => {
  await dir?.[Symbol.asyncDispose]();
});

describe("loadX509Attestation", () => {
  it("loads cert and key from files, takes the registration id from the CN and lowercases it", async () => {
    const attestation = await loadX509Attestation({ cert: path("leaf.pem"), key: path("leaf.key") });
    expect(attestation.kind).toBe("x509");
    expect(attestation.registrationId).toBe("sorter-pi-01");
    expect(attestation.chainPem).toEqual([]);
    const leaf = new X509Certificate(attestation.certificatePem);
    expect(leaf.fingerprint256).toBe(new X509Certificate(await readFile(path("leaf.pem"))).fingerprint256);
    expect(attestation.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(leaf.checkPrivateKey(createPrivateKey(attestation.privateKeyPem))).toBe(true);
  });

  it("loads the same from PEM strings", async () => {
    const fromFiles = await loadX509Attestation({ cert: path("leaf.pem"), key: path("leaf.key") });
    const fromText = await loadX509Attestation({
      cert: await readFile(path("leaf.pem"), "utf8"),
      key: await readFile(path("leaf.key"), "utf8"),
    });
    expect(fromText).toEqual(fromFiles);
  });

  it("resolves relative paths against cwd", async () => {
    const attestation = await loadX509Attestation({ cert: "leaf.pem", key: "leaf.key" }, { cwd: dir.path });
    expect(attestation.registrationId).toBe("sorter-pi-01");
  });

  it("splits a bundle into leaf and chain, and appends a separate chain", async () => {
    const bundled = await loadX509Attestation({ cert: path("bundle.pem"), key: path("leaf.key") });
    expect(bundled.registrationId).toBe("sorter-pi-01");
    expect(bundled.chainPem.map((pem) => new X509Certificate(pem).subject)).toEqual(["CN=skittle-test-root"]);

    const separate = await loadX509Attestation({
      cert: path("leaf.pem"),
      key: path("leaf.key"),
      chain: path("root.pem"),
    });
    expect(separate.chainPem).toEqual(bundled.chainPem);
    const leaf = new X509Certificate(separate.certificatePem);
    expect(leaf.verify(new X509Certificate(separate.chainPem[0] ?? "").publicKey)).toBe(true);
  });

  it("accepts a SEC1 EC key and re-exports it as PKCS#8", async () => {
    const sec1 = await readFile(path("other-sec1.key"), "utf8");
    expect(sec1).toContain("-----BEGIN EC PRIVATE KEY-----");
    const attestation = await loadX509Attestation({ cert: path("other.pem"), key: sec1 });
    expect(attestation.registrationId).toBe("other-device");
    expect(attestation.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it("falls back to the first SAN DNS name when there is no CN", async () => {
    const attestation = await loadX509Attestation({ cert: path("san.pem"), key: path("san.key") });
    expect(attestation.registrationId).toBe("san-dev-2");
  });

  it("fails with X509_NO_REGISTRATION_ID without CN or SAN DNS, or with two CNs", async () => {
    const none = await loadError({ cert: path("nothing.pem"), key: path("nothing.key") });
    expect(none.code).toBe("X509_NO_REGISTRATION_ID");
    expect(none.message).toContain("CN=<registration id>");
    const two = await loadError({ cert: path("twocn.pem"), key: path("twocn.key") });
    expect(two.code).toBe("X509_NO_REGISTRATION_ID");
    expect(two.message).toContain("2 subject CNs");
  });

  it("fails with X509_REGISTRATION_ID_TOO_LONG for a 65-character id", async () => {
    const error = await loadError({ cert: path("long.pem"), key: path("long.key") });
    expect(error.code).toBe("X509_REGISTRATION_ID_TOO_LONG");
    expect(error.message).toContain("65 characters");
    expect(error.message).toContain("64");
  });

  it("validates the CN as a registration id", async () => {
    const error = await loadError({ cert: path("badchar.pem"), key: path("badchar.key") });
    expect(error.code).toBe("ATTESTATION_INVALID_REGISTRATION_ID");
    expect(error.message).toContain('contains " "');
  });

  it("fails with X509_KEY_MISMATCH when the key belongs to another certificate, without printing it", async () => {
    const key = await readFile(path("other.key"), "utf8");
    const error = await loadError({ cert: path("leaf.pem"), key });
    expect(error.code).toBe("X509_KEY_MISMATCH");
    expect(error.message).toContain("Sorter-Pi-01");
    expect(error.message).toContain("private key PEM text");
    expect(error.message).not.toContain(key.split("\n")[1] ?? "<no key body>");
  });

  it.each<[string, () => X509Source, RegExp]>([
    [
      "a missing file",
      () => ({ cert: path("missing.pem"), key: path("leaf.key") }),
      /missing\.pem.*does not exist/,
    ],
    [
      "a file without PEM",
      () => ({ cert: path("garbage.pem"), key: path("leaf.key") }),
      /garbage\.pem.*-----BEGIN CERTIFICATE-----/,
    ],
    ["a corrupt certificate", () => ({ cert: path("corrupt.pem"), key: path("leaf.key") }), /corrupt\.pem/],
    [
      "a key that is not a key",
      () => ({ cert: path("leaf.pem"), key: path("garbage.pem") }),
      /private key file .*garbage\.pem.*unencrypted PEM key/,
    ],
    [
      "an encrypted key",
      () => ({ cert: path("leaf.pem"), key: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n" }),
      /encrypted/,
    ],
    [
      "a bad chain",
      () => ({ cert: path("leaf.pem"), key: path("leaf.key"), chain: path("garbage.pem") }),
      /chain/,
    ],
  ])("fails with X509_LOAD_FAILED naming the source for %s", async (_what, source, message) => {
    const error = await loadError(source());
    expect(error.code).toBe("X509_LOAD_FAILED");
    expect(error.message).toMatch(message);
  });

  it("rejects with the abort reason when the signal is already aborted", async () => {
    const reason = new Error("stop");
    await expect(
      loadX509Attestation(
        { cert: path("leaf.pem"), key: path("leaf.key") },
        { signal: AbortSignal.abort(reason) },
      ),
    ).rejects.toBe(reason);
  });
});

describe("mqttCredentials for X.509", () => {
  it("gives leaf + chain and the key, no password, usable as TLS client credentials", async () => {
    const attestation = await loadX509Attestation({ cert: path("bundle.pem"), key: path("leaf.key") });
    const credentials = mqttCredentials(attestation, { idScope: "0ne00000A0A" });
    expect(credentials.password).toBeUndefined();
    expect(credentials.key).toBe(attestation.privateKeyPem);
    const certs = credentials.cert?.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
    expect(certs).toHaveLength(2);
    expect(credentials.cert?.startsWith(attestation.certificatePem)).toBe(true);
    expect(() => createSecureContext({ cert: credentials.cert, key: credentials.key })).not.toThrow();
  });
});

describe("loadX509Attestation in a fresh process", () => {
  // Node 20 breaks node:tls for the whole process when X509Certificate#toLegacyObject() runs before node:tls is
  // loaded; only a fresh process shows it. Loading an onboarding certificate must leave TLS usable.
  it("leaves tls.createSecureContext usable", async () => {
    const moduleUrl = new URL("./x509.ts", import.meta.url).href;
    const script = [
      `const { loadX509Attestation } = await import(${JSON.stringify(moduleUrl)});`,
      `const attestation = await loadX509Attestation({ cert: ${JSON.stringify(path("leaf.pem"))}, key: ${JSON.stringify(path("leaf.key"))} });`,
      'const tls = await import("node:tls");',
      "tls.createSecureContext({ cert: attestation.certificatePem, key: attestation.privateKeyPem });",
      "process.stdout.write(attestation.registrationId);",
    ].join("\n");
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--conditions=@skittlesorter/source", "--import", "tsx", "--input-type=module", "-e", script],
      { cwd: fileURLToPath(new URL("..", import.meta.url)), encoding: "utf8" },
    );
    expect(stdout).toBe("sorter-pi-01");
  });
});
