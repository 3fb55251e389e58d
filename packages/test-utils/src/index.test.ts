import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openssl, tempDir } from "./index.ts";

describe("tempDir", () => {
  it("creates a directory and removes it on dispose", async () => {
    let path: string;
    {
      await using dir = await tempDir();
      path = dir.path;
      expect(existsSync(path)).toBe(true);
    }
    expect(existsSync(path)).toBe(false);
  });
});

describe("openssl", () => {
  it("runs openssl and returns its output", async () => {
    const { stdout } = await openssl(["version"]);
    expect(stdout).toMatch(/OpenSSL/);
  });

  it("rejects on a failing command", async () => {
    await expect(openssl(["x509", "-noout", "-in", "/nonexistent/cert.pem"])).rejects.toThrow();
  });
});
