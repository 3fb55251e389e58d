import { access } from "node:fs/promises";

/** Whether `path` exists (any kind of file); false also when it cannot be checked. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
