// Every publishable package carries what npm users and the release need: the package.json metadata and a README
// with install, example, options and error codes (and a note when it is built on a preview Azure API).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  license?: string;
  author?: string;
  keywords?: string[];
  type?: string;
  engines?: { node?: string };
  repository?: { type?: string; url?: string; directory?: string };
  homepage?: string;
  bugs?: { url?: string };
  bin?: Record<string, string>;
  exports?: Record<string, unknown>;
  files?: string[];
  publishConfig?: { access?: string };
}

const all = ["packages", "apps"].flatMap((group) =>
  readdirSync(join(repo, group))
    .sort()
    .map((name) => ({ dir: `${group}/${name}`, folder: name }))
    .filter(({ dir }) => existsSync(join(repo, dir, "package.json")))
    .map(({ dir, folder }) => ({
      dir,
      folder,
      manifest: JSON.parse(readFileSync(join(repo, dir, "package.json"), "utf8")) as Manifest,
    })),
);
const publishable = all.filter(({ manifest }) => manifest.private !== true);

/** Packages built on a preview Azure API, and the api-version their README must name. */
const PREVIEW: Record<string, string> = {
  "@skittlesorter/dps-mqtt": "2025-07-01-preview",
  "@skittlesorter/hub-mqtt": "2025-08-01-preview",
  "@skittlesorter/csr": "2025-07-01-preview",
  "@skittlesorter/adr-client": "2026-03-01-preview",
};

describe("publishable packages", () => {
  it("are every library under packages/ (except test-utils) plus the cli, the simulator and the sorter", () => {
    const names = publishable.map(({ manifest }) => manifest.name);
    const libraries = all.filter(({ dir }) => dir.startsWith("packages/") && !dir.endsWith("/test-utils"));
    expect(names).toEqual(
      expect.arrayContaining([
        ...libraries.map(({ manifest }) => manifest.name),
        "@skittlesorter/cli",
        "@skittlesorter/simulator",
        "@skittlesorter/sorter",
      ]),
    );
    expect(names).not.toContain("@skittlesorter/test-utils");
  });

  describe.each(publishable)("$manifest.name", ({ dir, folder, manifest }) => {
    it("has the package.json metadata npm shows and the release needs", () => {
      expect(manifest.name).toBe(`@skittlesorter/${folder}`);
      expect(manifest.version).toMatch(/^0\.\d+\.\d+$/);
      expect(manifest.description?.length ?? 0).toBeGreaterThan(20);
      expect(manifest.license).toBe("MIT");
      expect(manifest.author).toBeTruthy();
      expect(manifest.keywords).toContain("skittlesorter");
      expect(manifest.keywords?.length ?? 0).toBeGreaterThanOrEqual(3);
      expect(manifest.type).toBe("module");
      expect(manifest.engines?.node).toBe(">=20.19");
      expect(manifest.repository).toEqual({
        type: "git",
        url: expect.stringMatching(/^https:\/\/.+\.git$/),
        directory: dir,
      });
      expect(manifest.homepage).toMatch(new RegExp(`/${dir}#readme$`));
      expect(manifest.bugs?.url).toMatch(/\/issues$/);
      expect(manifest.publishConfig?.access).toBe("public");
    });

    it("exports types and JavaScript from dist/ and ships what its exports and bins point at", () => {
      const root = manifest.exports?.["."] as Record<string, string> | undefined;
      expect(Object.keys(root ?? {})[0], "the source condition comes first").toBe("@skittlesorter/source");
      expect(root?.types).toBe("./dist/index.d.ts");
      expect(root?.default).toBe("./dist/index.js");
      expect(manifest.exports?.["./package.json"]).toBe("./package.json");
      expect(manifest.files).toEqual(expect.arrayContaining(["dist", "src", "!src/**/*.test.ts"]));
      for (const target of Object.values(manifest.bin ?? {})) {
        const top = target.replace(/^\.\//, "").split("/")[0];
        expect(manifest.files, `${target} is packed`).toContain(top);
        expect(existsSync(join(repo, dir, target)), `${target} exists`).toBe(true);
      }
    });

    it("has a README with install, an example, options and error codes", () => {
      const readme = readFileSync(join(repo, dir, "README.md"), "utf8");
      expect(readme).toMatch(/^## Install$/m);
      expect(readme).toMatch(new RegExp(`(npm install( -g)?|npx) ${manifest.name}`));
      expect(readme, "an example in a ts/js/sh code block").toMatch(/^```(ts|js|sh)$/m);
      expect(readme).toMatch(/option/i);
      if (dir.startsWith("packages/")) expect(readme).toMatch(/^#{2,3} .*(error|Errors)/im);
      const preview = PREVIEW[manifest.name];
      if (preview !== undefined) {
        expect(readme).toMatch(/^## Preview API$/m);
        expect(readme).toContain(preview);
      }
    });
  });
});
