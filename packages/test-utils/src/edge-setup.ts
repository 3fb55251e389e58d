// Vitest globalSetup of the edge test group (`*.edge.test.ts`, which bind the fixed ports 443 and 8883): one run at a
// time on this machine, and a TLS root every forked worker trusts through NODE_EXTRA_CA_CERTS.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import lockfile from "proper-lockfile";
import { EDGE_TLS_ROOT_KEY, type EdgeTlsRoot } from "./edge.ts";
import { openssl } from "./openssl.ts";

/** The machine-wide lock: every checkout's edge group takes the same one. */
export const EDGE_LOCK_PATH = join(tmpdir(), "skittlesorter-edge-ports");
/** How long to wait for another checkout's edge group before failing. */
const LOCK_WAIT_MS = 30 * 60_000;
const LOCK_RETRY_MS = 500;

/** The part of vitest's `TestProject` a global setup uses. */
interface ProvidingProject {
  provide(key: typeof EDGE_TLS_ROOT_KEY, value: EdgeTlsRoot): void;
}

/** Waits for the machine-wide edge lock (never fails because another checkout holds it, up to 30 minutes). */
async function takeEdgeLock(): Promise<() => Promise<void>> {
  const options = {
    realpath: false,
    // Refreshed every `update` ms while held; a holder that died is taken over after `stale` ms.
    stale: 120_000,
    update: 10_000,
    onCompromised: (error: Error) => process.emitWarning(`edge test lock lost: ${error.message}`),
  };
  try {
    return await lockfile.lock(EDGE_LOCK_PATH, options);
  } catch (error) {
    if ((error as { code?: string }).code !== "ELOCKED") throw error;
  }
  process.stderr.write(
    `edge tests: waiting for another checkout's edge tests (lock ${EDGE_LOCK_PATH}.lock)\n`,
  );
  const retries = Math.ceil(LOCK_WAIT_MS / LOCK_RETRY_MS);
  return lockfile.lock(EDGE_LOCK_PATH, {
    ...options,
    retries: { retries, factor: 1, minTimeout: LOCK_RETRY_MS, maxTimeout: LOCK_RETRY_MS },
  });
}

/** A throwaway CA (EC P-256, 2 days) made by the machine's openssl. */
async function createTestRoot(dir: string): Promise<EdgeTlsRoot> {
  const keyFile = join(dir, "root.key");
  const certificateFile = join(dir, "root.pem");
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certificateFile,
    "-days",
    "2",
    "-subj",
    "/CN=skittlesorter edge test root",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return {
    certificatePem: await readFile(certificateFile, "utf8"),
    privateKeyPem: await readFile(keyFile, "utf8"),
  };
}

/**
 * Takes the machine-wide edge lock, creates a TLS root, and sets `NODE_EXTRA_CA_CERTS` (keeping any file already
 * named there) before vitest forks its workers, which therefore trust the root: the official clients without a `ca`
 * option read it once, at process start. Workers get the root (with its key) from `edgeTlsRoot()`.
 */
export async function setup(project: ProvidingProject): Promise<() => Promise<void>> {
  const unlock = await takeEdgeLock();
  const dir = await mkdtemp(join(tmpdir(), "skittlesorter-edge-"));
  const previousExtra = process.env.NODE_EXTRA_CA_CERTS;
  try {
    const root = await createTestRoot(dir);
    const kept = previousExtra === undefined ? "" : await readFile(previousExtra, "utf8").catch(() => "");
    const trustFile = join(dir, "extra-ca-certs.pem");
    await writeFile(trustFile, `${kept.trimEnd()}\n${root.certificatePem}`);
    process.env.NODE_EXTRA_CA_CERTS = trustFile;
    project.provide(EDGE_TLS_ROOT_KEY, root);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    await unlock();
    throw error;
  }
  return async () => {
    if (previousExtra === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = previousExtra;
    await rm(dir, { recursive: true, force: true });
    await unlock();
  };
}
