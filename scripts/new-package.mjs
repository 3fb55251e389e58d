#!/usr/bin/env node
// Scaffolds packages/<name> with the conventions of this repo: node scripts/new-package.mjs <name> "<description>" [dep …]
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [name, description, ...deps] = process.argv.slice(2);
if (!name || !description) {
  console.error('usage: node scripts/new-package.mjs <name> "<description>" [@skittlesorter/dep …]');
  process.exit(2);
}
const dir = join("packages", name);
if (existsSync(dir)) {
  console.error(`${dir} exists already`);
  process.exit(1);
}
mkdirSync(join(dir, "src"), { recursive: true });
const pkg = {
  name: `@skittlesorter/${name}`,
  version: "0.0.0",
  description,
  license: "MIT",
  keywords: ["skittlesorter"],
  type: "module",
  sideEffects: false,
  engines: { node: ">=20.19" },
  exports: {
    ".": {
      "@skittlesorter/source": "./src/index.ts",
      types: "./dist/index.d.ts",
      default: "./dist/index.js",
    },
    "./package.json": "./package.json",
  },
  files: ["dist", "src", "!src/**/*.test.ts", "!src/**/*.test-support.ts", "!src/**/__fixtures__"],
  repository: {
    type: "git",
    url: "https://github.com/skittlesorter/skittlesorter.git",
    directory: `packages/${name}`,
  },
  scripts: {
    build: "tsc -b",
    test: "vitest run",
    "lint:pkg": "publint --strict && attw --pack . --profile esm-only",
  },
  dependencies: Object.fromEntries(["@skittlesorter/core", ...deps].map((d) => [d, "workspace:^"])),
  devDependencies: { "@skittlesorter/test-utils": "workspace:*" },
  publishConfig: { access: "public" },
};
writeFileSync(join(dir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
const references = ["core", ...deps.map((d) => d.replace("@skittlesorter/", ""))].map((d) => ({
  path: `../${d}`,
}));
writeFileSync(
  join(dir, "tsconfig.json"),
  `${JSON.stringify(
    {
      extends: "../../tsconfig.base.json",
      compilerOptions: { rootDir: "src", outDir: "dist" },
      include: ["src"],
      exclude: ["src/**/*.test.ts", "src/**/*.test-support.ts"],
      references,
    },
    null,
    2,
  )}\n`,
);
writeFileSync(
  join(dir, "vitest.config.ts"),
  'import { sharedConfig } from "../../vitest.shared.ts";\n\nexport default sharedConfig;\n',
);
writeFileSync(join(dir, "src", "index.ts"), "export {};\n");
writeFileSync(join(dir, "README.md"), `# @skittlesorter/${name}\n\n${description}\n`);
console.log(`created ${dir}; add it to the root tsconfig.json references`);
