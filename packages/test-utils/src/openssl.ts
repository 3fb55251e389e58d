import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface OpensslResult {
  stdout: string;
  stderr: string;
}

/** Runs the machine's `openssl` as an independent oracle; rejects with its stderr on a non-zero exit. */
export async function openssl(args: readonly string[], input?: string): Promise<OpensslResult> {
  const child = execFileAsync("openssl", [...args], { encoding: "utf8" });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  const { stdout, stderr } = await child;
  return { stdout, stderr };
}
