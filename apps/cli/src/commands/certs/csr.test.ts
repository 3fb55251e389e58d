import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { csrToWire, parseCsr, publicKeysMatch, readPrivateKeyFile } from "@skittlesorter/csr";
import { openssl } from "@skittlesorter/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

let cwd: string;

beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), "skittle-cli-csr-"));
});

afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe("skittle csr create", () => {
  it("writes a 0600 key and a CSR that openssl verifies, with CN = registration id (EC P-384 by default)", async () => {
    const run = await runCli(["csr", "create", "--registration-id", "sorter-01", "--out-dir", "out"], cwd);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    const keyFile = join(cwd, "out", "sorter-01.key.pem");
    const csrFile = join(cwd, "out", "sorter-01.csr.pem");
    expect(run.stdout).toContain(keyFile);
    expect(run.stdout).toContain(csrFile);
    expect(run.stdout).not.toContain("PRIVATE KEY");
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await readdir(join(cwd, "out"))).sort()).toEqual(["sorter-01.csr.pem", "sorter-01.key.pem"]);

    const verified = await openssl(["req", "-in", csrFile, "-noout", "-verify", "-subject", "-text"]);
    expect(`${verified.stdout}${verified.stderr}`).toMatch(/verify OK/i);
    expect(verified.stdout).toMatch(/subject=\s*CN\s*=\s*sorter-01\s*$/m);
    expect(verified.stdout).toContain("NIST CURVE: P-384");
    expect(verified.stdout).toContain("ecdsa-with-SHA384");

    const info = await parseCsr(await readFile(csrFile, "utf8"));
    expect(publicKeysMatch(info.publicKey, await readPrivateKeyFile(keyFile))).toBe(true);
  });

  it("prints JSON with --json, lowercases the registration id and honours --key-type", async () => {
    const run = await runCli(
      [
        "csr",
        "create",
        "--registration-id",
        "Sorter-02",
        "--key-type",
        "rsa-2048",
        "--out-dir",
        cwd,
        "--json",
      ],
      cwd,
    );
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(result).sort()).toEqual([
      "csrFile",
      "csrWire",
      "keyFile",
      "keyType",
      "registrationId",
    ]);
    expect(result).toMatchObject({
      registrationId: "sorter-02",
      keyType: "rsa-2048",
      keyFile: join(cwd, "sorter-02.key.pem"),
      csrFile: join(cwd, "sorter-02.csr.pem"),
    });
    expect(result.csrWire).not.toMatch(/[\r\n]|-----/);
    expect(result.csrWire).toBe(csrToWire(await readFile(join(cwd, "sorter-02.csr.pem"), "utf8")));
    const info = await parseCsr(result.csrWire as string);
    expect(info).toMatchObject({ commonName: "sorter-02", keyType: "rsa-2048", signatureValid: true });
    expect(run.stdout).not.toContain("PRIVATE KEY");
  });

  it("refuses to overwrite an existing key without --force, and replaces it with --force", async () => {
    const args = [
      "csr",
      "create",
      "--registration-id",
      "sorter-03",
      "--key-type",
      "ec-p256",
      "--out-dir",
      ".",
    ];
    expect((await runCli(args, cwd)).code).toBe(0);
    const keyFile = join(cwd, "sorter-03.key.pem");
    const original = await readFile(keyFile, "utf8");

    const refused = await runCli(args, cwd);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error \[KEY_FILE_EXISTS\]: .*sorter-03\.key\.pem.*--force/);
    expect(await readFile(keyFile, "utf8")).toBe(original);

    const forced = await runCli([...args, "--force"], cwd);
    expect(forced.code).toBe(0);
    expect(await readFile(keyFile, "utf8")).not.toBe(original);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect((await readdir(cwd)).sort()).toEqual(["sorter-03.csr.pem", "sorter-03.key.pem"]);
  });

  it("exits 2 on usage errors", async () => {
    const missingId = await runCli(["csr", "create", "--out-dir", cwd], cwd);
    expect(missingId.code).toBe(2);
    expect(missingId.stderr).toContain("--registration-id");

    const missingDir = await runCli(["csr", "create", "--registration-id", "a"], cwd);
    expect(missingDir.code).toBe(2);
    expect(missingDir.stderr).toContain("--out-dir");

    const badKeyType = await runCli(
      ["csr", "create", "--registration-id", "a", "--out-dir", cwd, "--key-type", "dsa"],
      cwd,
    );
    expect(badKeyType.code).toBe(2);
    expect(badKeyType.stderr).toContain("ec-p384");

    for (const id of ["bad id", "-leading", "x".repeat(129)]) {
      const badId = await runCli(["csr", "create", "--registration-id", id, "--out-dir", cwd], cwd);
      expect(badId.code).toBe(2);
      expect(badId.stderr).toMatch(/^error \[USAGE\]: --registration-id: /);
    }
    expect(await readdir(cwd)).toEqual([]);
  });

  it("fails with exit 1 when the output directory cannot be made", async () => {
    await writeFile(join(cwd, "file"), "x");
    const run = await runCli(["csr", "create", "--registration-id", "a", "--out-dir", "file"], cwd);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[OUT_DIR_INVALID\]: /);
  });

  it("shows help with exit 0", async () => {
    const run = await runCli(["csr", "create", "--help"]);
    expect(run.code).toBe(0);
    for (const option of ["--registration-id", "--key-type", "--out-dir", "--force", "--json"]) {
      expect(run.stdout).toContain(option);
    }
  });
});
