import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  sideEffects: unknown;
};

describe("reflect-metadata", () => {
  it("is loaded only by files the manifest lists as having side effects", () => {
    // The polyfill defines `Reflect.getMetadata` for the whole process; bundlers must not treat its loader as pure.
    const loaders = readdirSync(new URL(".", import.meta.url))
      .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
      .filter((name) => readFileSync(new URL(name, import.meta.url), "utf8").includes('"reflect-metadata"'));
    expect(loaders).toEqual(["libs.ts"]);
    expect(manifest.sideEffects).toEqual(["./src/libs.ts", "./dist/libs.js"]);
  });

  it("is not installed by importing the package", async () => {
    const before = (Reflect as { getMetadata?: unknown }).getMetadata;
    await import("./index.ts");
    expect((Reflect as { getMetadata?: unknown }).getMetadata).toBe(before);
  });
});
