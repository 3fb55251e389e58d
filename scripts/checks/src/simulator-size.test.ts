// The simulator stays readable: no source file over 500 lines, no function over 100 (issue 15). Tests and test
// support files are exempt.
import { join } from "node:path";
import { expect, it } from "vitest";
import { repoRoot } from "./repo.ts";
import { oversized, sourceFiles } from "./source-size.ts";

const root = join(repoRoot, "packages", "simulator", "src");
const limits = { maxFileLines: 500, maxFunctionLines: 100 };

it("measures what it should: every kind of function, with its nested functions", () => {
  const files = sourceFiles(root);
  expect(files.length).toBeGreaterThan(30);
  expect(files.some((file) => file.endsWith(".test.ts"))).toBe(false);
  // On a tiny budget it finds a function declaration, a class method and an arrow function.
  const found = oversized(root, files, { maxFileLines: 10_000, maxFunctionLines: 3 }).map(
    (item) => item.where,
  );
  expect(found.some((where) => / startSimulator$/.test(where))).toBe(true);
  expect(found.some((where) => / authenticate$/.test(where))).toBe(true);
  expect(found.some((where) => /simulator\.ts:\d+ build$/.test(where))).toBe(true); // an arrow in a const
});

it(`packages/simulator/src: no file over ${limits.maxFileLines} lines, no function over ${limits.maxFunctionLines}`, () => {
  expect(oversized(root, sourceFiles(root), limits)).toEqual([]);
});
