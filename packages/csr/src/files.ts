import { createPrivateKey, type KeyObject, randomBytes } from "node:crypto";
import { type FileHandle, link, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CsrError, describeError } from "./errors.ts";
import { privateKeyToPem } from "./keys.ts";
import { looksLikePem, pemBlocks } from "./pem.ts";

export interface WriteFileAtomicOptions {
  /** File mode, applied exactly (not subject to the umask). Default: 0o666 minus the umask. */
  mode?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface WritePrivateKeyFileOptions {
  /** Replace an existing file. Default false: an existing file is refused with `KEY_FILE_EXISTS`. */
  overwrite?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export interface ReadPrivateKeyFileOptions {
  signal?: AbortSignal | undefined;
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return (
    signal?.aborted === true && (error === signal.reason || (error as Error | null)?.name === "AbortError")
  );
}

/**
 * Writes to a temporary file in the same directory, flushes it, then moves it into place, so readers
 * see the old content or the new, never a partial file. With `overwrite: false` an existing target is
 * refused atomically (hard link instead of rename). Missing parent directories are created with mode
 * 0700: a caller that has just been issued a certificate must not lose its key to a missing `certs/`.
 */
async function writeAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number | undefined; signal?: AbortSignal | undefined; overwrite: boolean },
): Promise<void> {
  const { signal, mode, overwrite } = options;
  signal?.throwIfAborted();
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  let handle: FileHandle | undefined;
  let created = false;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    handle = await open(temp, "wx", mode ?? 0o666);
    created = true;
    if (mode !== undefined) await handle.chmod(mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    signal?.throwIfAborted();
    if (overwrite) {
      await rename(temp, path);
      created = false;
    } else {
      try {
        await link(temp, path);
      } catch (error) {
        if (errnoCode(error) === "EEXIST") {
          throw new CsrError(
            "KEY_FILE_EXISTS",
            `${path} already exists: refusing to overwrite it. Move it away, or allow overwriting (--force in the CLI).`,
            { path, cause: error },
          );
        }
        throw error;
      }
    }
  } catch (error) {
    if (error instanceof CsrError || isAbort(error, signal)) throw error;
    throw new CsrError(
      "FILE_WRITE_FAILED",
      `Could not write ${path} (${describeError(error)}): check that its directory is writable.`,
      { path, cause: error },
    );
  } finally {
    await handle?.close().catch(() => {});
    if (created) await rm(temp, { force: true }).catch(() => {});
  }
}

/**
 * Writes a file atomically: a temporary file in the same directory, flushed, then renamed over the target.
 * Missing parent directories are created (mode 0700).
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  await writeAtomic(path, data, { mode: options.mode, signal: options.signal, overwrite: true });
}

/**
 * Writes a private key as PKCS#8 PEM with mode 0600, atomically, creating missing parent directories
 * (mode 0700). Refuses to replace an existing file unless `overwrite` is true.
 */
export async function writePrivateKeyFile(
  path: string,
  key: KeyObject | string,
  options: WritePrivateKeyFileOptions = {},
): Promise<void> {
  let pem: string;
  if (typeof key === "string") {
    try {
      pem = privateKeyToPem(createPrivateKey(key));
    } catch (error) {
      throw new CsrError("KEY_INVALID", "The key to write is not an unencrypted private key PEM.", {
        cause: error,
      });
    }
  } else {
    pem = privateKeyToPem(key);
  }
  await writeAtomic(path, pem, {
    mode: 0o600,
    signal: options.signal,
    overwrite: options.overwrite === true,
  });
}

const KEY_LABELS = new Set(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]);

const WRONG_CONTENT: Readonly<Record<string, string>> = {
  CERTIFICATE: "a certificate",
  "CERTIFICATE REQUEST": "a certificate signing request",
  "NEW CERTIFICATE REQUEST": "a certificate signing request",
  "PUBLIC KEY": "a public key",
  "RSA PUBLIC KEY": "a public key",
};

/**
 * Reads a private key file (PKCS#8, PKCS#1 or SEC1 PEM, or PKCS#8 DER). Clear errors for a missing file
 * (`KEY_FILE_NOT_FOUND`) and for files that hold something else, e.g. a certificate or CSR
 * (`KEY_FILE_INVALID`). The key never appears in an error message.
 */
export async function readPrivateKeyFile(
  path: string,
  options: ReadPrivateKeyFileOptions = {},
): Promise<KeyObject> {
  options.signal?.throwIfAborted();
  let content: Buffer;
  try {
    content = await readFile(path, { signal: options.signal });
  } catch (error) {
    if (isAbort(error, options.signal)) throw error;
    if (errnoCode(error) === "ENOENT") {
      throw new CsrError(
        "KEY_FILE_NOT_FOUND",
        `Private key file ${path} does not exist: check the path, or create a key (skittle csr create).`,
        { path, cause: error },
      );
    }
    throw new CsrError(
      "FILE_READ_FAILED",
      `Could not read private key file ${path} (${describeError(error)}).`,
      {
        path,
        cause: error,
      },
    );
  }
  const text = content.toString("latin1");
  if (looksLikePem(text)) {
    let labels: string[];
    try {
      labels = pemBlocks(text, "KEY_FILE_INVALID").map((block) => block.label);
    } catch (error) {
      throw new CsrError("KEY_FILE_INVALID", `${path} has a damaged PEM block: restore the key file.`, {
        path,
        cause: error,
      });
    }
    if (labels.includes("ENCRYPTED PRIVATE KEY")) {
      throw new CsrError(
        "KEY_FILE_INVALID",
        `${path} holds an encrypted private key: decrypt it first (openssl pkey -in FILE -out FILE.key.pem).`,
        { path },
      );
    }
    const keyBlock = [...text.matchAll(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g)].find((match) =>
      KEY_LABELS.has(match[1] ?? ""),
    );
    if (keyBlock === undefined) {
      const found = labels.map((label) => WRONG_CONTENT[label] ?? `a "${label}" block`);
      throw new CsrError(
        "KEY_FILE_INVALID",
        `${path} does not hold a private key${found.length > 0 ? ` (it holds ${[...new Set(found)].join(" and ")})` : ""}: pass the private key file (e.g. <registration-id>.key.pem).`,
        { path },
      );
    }
    try {
      return createPrivateKey({ key: keyBlock[0], format: "pem" });
    } catch (error) {
      throw new CsrError(
        "KEY_FILE_INVALID",
        `${path} holds a private key block that cannot be decoded: restore the key file.`,
        {
          path,
          cause: error,
        },
      );
    }
  }
  try {
    return createPrivateKey({ key: content, format: "der", type: "pkcs8" });
  } catch (error) {
    throw new CsrError(
      "KEY_FILE_INVALID",
      `${path} is neither a PEM nor a PKCS#8 DER private key: pass the private key file (e.g. <registration-id>.key.pem).`,
      { path, cause: error },
    );
  }
}
