import { defineConfig } from "vitest/config";

// The release checks (`pnpm test:release`), run from the root `pnpm test` after the package suites.
export default defineConfig({
  test: {
    include: ["*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
