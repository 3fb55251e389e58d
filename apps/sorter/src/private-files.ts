import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";

/** Owner-only modes for everything in the data directory, applied exactly (a permissive umask cannot widen them). */
export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and missing parents) if needed, and makes it owner-only (0700). */
export function ensurePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  chmodSync(dir, PRIVATE_DIRECTORY_MODE);
}

/**
 * Makes the SQLite database `file` owner-only (0600), creating it empty if missing (an empty file is an empty
 * database). SQLite gives the `-wal`, `-shm` and `-journal` files it creates the database file's mode, so they follow;
 * ones left by an earlier run are tightened too.
 */
export function ensurePrivateDatabaseFile(file: string): void {
  closeSync(openSync(file, "a", PRIVATE_FILE_MODE));
  for (const path of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    try {
      chmodSync(path, PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
}
