import { X509Certificate } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { EdgeTlsRoot } from "./edge.ts";
import { prepareEdgeGroup, takeEdgeLock } from "./edge-setup.ts";
import { tempDir } from "./temp-dir.ts";

const extraBefore = process.env.NODE_EXTRA_CA_CERTS;

afterEach(() => {
  if (extraBefore === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
  else process.env.NODE_EXTRA_CA_CERTS = extraBefore;
});

describe("the edge group's global setup", () => {
  it("a second taker of the lock waits for the first to release it, instead of failing", {
    timeout: 30_000,
  }, async () => {
    await using dir = await tempDir("skittle-edge-lock-");
    const lockPath = join(dir.path, "edge-ports");
    const releaseFirst = await takeEdgeLock(lockPath);
    let secondHasIt = false;
    const second = takeEdgeLock(lockPath).then((release) => {
      secondHasIt = true;
      return release;
    });
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // more than two retries
    expect(secondHasIt).toBe(false);
    await releaseFirst();
    const releaseSecond = await second;
    expect(secondHasIt).toBe(true);
    await releaseSecond();
  });

  it("provides a CA root and trusts it through NODE_EXTRA_CA_CERTS, keeping a file already named there; teardown undoes it", {
    timeout: 30_000,
  }, async () => {
    await using dir = await tempDir("skittle-edge-setup-");
    const earlier = join(dir.path, "corporate.pem");
    await writeFile(earlier, "-----BEGIN CERTIFICATE-----\nearlier\n-----END CERTIFICATE-----\n");
    process.env.NODE_EXTRA_CA_CERTS = earlier;
    let provided: EdgeTlsRoot | undefined;
    const teardown = await prepareEdgeGroup(
      {
        provide: (_key, value) => {
          provided = value;
        },
      },
      join(dir.path, "edge-ports"),
    );
    const trustFile = process.env.NODE_EXTRA_CA_CERTS;
    expect(trustFile).not.toBe(earlier);
    const trusted = await readFile(trustFile ?? "", "utf8");
    expect(trusted).toContain("earlier");
    expect(trusted).toContain(provided?.certificatePem.trim());
    expect(new X509Certificate(provided?.certificatePem ?? "").ca).toBe(true);
    expect(provided?.privateKeyPem).toContain("PRIVATE KEY");
    await teardown();
    expect(process.env.NODE_EXTRA_CA_CERTS).toBe(earlier);
    expect(existsSync(trustFile ?? "")).toBe(false);
  });
});
