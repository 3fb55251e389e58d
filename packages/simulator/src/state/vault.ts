// Where the simulator keeps its PEM files and private keys: under the data directory's `pki/`, or only in memory.
import type { KeyObject } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  privateKeyToPem,
  readPrivateKeyFile,
  writeFileAtomic,
  writePrivateKeyFile,
} from "@skittlesorter/csr";

/** Key material by name (`tls/root.pem`, `adr/ns/credential-root.key`, …). */
export interface KeyVault {
  /** Absolute path of a certificate PEM `name` written to disk; undefined in memory. */
  pathOf(name: string): string | undefined;
  /** A PEM stored earlier, or undefined. */
  readText(name: string): Promise<string | undefined>;
  /** Stores a certificate PEM (world-readable on disk: certificates are public). */
  writeCertificate(name: string, pem: string): Promise<void>;
  /** Stores a private key (owner-only on disk); resolves to the reference {@link key} takes. */
  writeKey(name: string, key: KeyObject): Promise<string>;
  /** The private key behind a reference from {@link writeKey}, loaded once. */
  key(ref: string): Promise<KeyObject>;
}

const MEMORY_PREFIX = "memory:";

/** Keeps everything in this process: nothing is written to disk. */
export class MemoryVault implements KeyVault {
  readonly #texts = new Map<string, string>();
  readonly #keys = new Map<string, KeyObject>();

  pathOf(): undefined {
    return undefined;
  }

  async readText(name: string): Promise<string | undefined> {
    return this.#texts.get(name);
  }

  async writeCertificate(name: string, pem: string): Promise<void> {
    this.#texts.set(name, pem);
  }

  async writeKey(name: string, key: KeyObject): Promise<string> {
    this.#texts.set(name, privateKeyToPem(key));
    this.#keys.set(`${MEMORY_PREFIX}${name}`, key);
    return `${MEMORY_PREFIX}${name}`;
  }

  async key(ref: string): Promise<KeyObject> {
    const key = this.#keys.get(ref);
    if (key === undefined) throw new Error(`no key ${ref} in this in-memory simulator`);
    return key;
  }
}

/** Files under `dir` (directories 0700, keys 0600); key references are absolute paths. */
export class FileVault implements KeyVault {
  readonly #dir: string;
  readonly #keys = new Map<string, Promise<KeyObject>>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  pathOf(name: string): string {
    return join(this.#dir, name);
  }

  async readText(name: string): Promise<string | undefined> {
    try {
      return await readFile(this.pathOf(name), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async writeCertificate(name: string, pem: string): Promise<void> {
    await mkdir(dirname(this.pathOf(name)), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.pathOf(name), pem, { mode: 0o644 });
  }

  async writeKey(name: string, key: KeyObject): Promise<string> {
    const path = this.pathOf(name);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writePrivateKeyFile(path, key, { overwrite: true });
    this.#keys.set(path, Promise.resolve(key));
    return path;
  }

  key(ref: string): Promise<KeyObject> {
    let key = this.#keys.get(ref);
    if (key === undefined) {
      key = readPrivateKeyFile(ref);
      key.catch(() => this.#keys.delete(ref));
      this.#keys.set(ref, key);
    }
    return key;
  }
}
