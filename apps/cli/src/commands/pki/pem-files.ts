// Reading and writing the PKI's PEM files, with errors that say which file and what to do about it.
import type { KeyObject } from "node:crypto";
import { mkdir, readFile, stat } from "node:fs/promises";
import { CliError } from "@skittlesorter/cli-shell";
import { certificateFacts, readPrivateKeyFile, writeFileAtomic } from "@skittlesorter/csr";
import { pathExists } from "../../path-exists.ts";

export const bundle = (pems: readonly string[]): string => pems.map((pem) => `${pem.trim()}\n`).join("");

export const writeCertificate = (path: string, pem: string): Promise<void> =>
  writeFileAtomic(path, pem.endsWith("\n") ? pem : `${pem}\n`, { mode: 0o644 });

export async function refuseExisting(keyFiles: readonly string[]): Promise<void> {
  for (const file of keyFiles) {
    if (await pathExists(file)) {
      throw new CliError(
        "KEY_FILE_EXISTS",
        `${file} already exists: refusing to overwrite a private key. Pass --force to replace it, or choose another directory.`,
      );
    }
  }
}

export async function ensureDirectory(path: string, flag: string): Promise<string> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    throw new CliError(
      "OUT_DIR_INVALID",
      `Cannot create the directory ${path} (${flag}): ${error instanceof Error ? error.message : String(error)}.`,
      { cause: error },
    );
  }
  if (!(await stat(path)).isDirectory()) {
    throw new CliError("OUT_DIR_INVALID", `${path} is not a directory: pass a directory as ${flag}.`);
  }
  return path;
}

async function readText(path: string, missing: () => CliError): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") throw missing();
    throw new CliError(
      "FILE_READ_FAILED",
      `Cannot read ${path}: ${error instanceof Error ? error.message : String(error)}.`,
      { cause: error },
    );
  }
}

export async function readCertificateFile(path: string, flag: string): Promise<string> {
  const text = await readText(
    path,
    () => new CliError("FILE_NOT_FOUND", `${path} (${flag}) does not exist: check the path.`),
  );
  try {
    return certificateFacts(text).pem;
  } catch (error) {
    throw new CliError(
      "CERT_INVALID",
      `${path} (${flag}) holds no X.509 certificate: pass a PEM file with a "-----BEGIN CERTIFICATE-----" block.`,
      { cause: error },
    );
  }
}

export function readCaCertificate(path: string, caDir: string, caName: string): Promise<string> {
  return readText(
    path,
    () =>
      new CliError(
        "CA_FILE_NOT_FOUND",
        `${path} is missing: the CA "${caName}" in ${caDir} is incomplete. Recreate it with \`skittle pki init --name ${caName} --out-dir ${caDir} --force\`.`,
      ),
  ).then((text) => certificateFacts(text).pem);
}

export async function readCaKey(path: string, caDir: string, caName: string): Promise<KeyObject> {
  if (!(await pathExists(path))) {
    throw new CliError(
      "CA_FILE_NOT_FOUND",
      `${path} is missing: issuing needs the intermediate CA's key. Copy it into ${caDir}, or recreate the CA with \`skittle pki init --name ${caName} --out-dir ${caDir} --force\`.`,
    );
  }
  return readPrivateKeyFile(path);
}

export async function readKeyFile(path: string, flag: string): Promise<KeyObject> {
  if (!(await pathExists(path))) {
    throw new CliError("FILE_NOT_FOUND", `${path} (${flag}) does not exist: check the path.`);
  }
  return readPrivateKeyFile(path);
}
