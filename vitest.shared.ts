import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const conditions = ["@skittlesorter/source"];

/** Tests that bind the fixed edge ports (443, 8883): run by {@link edgeConfig}, never with the others. */
const EDGE_TESTS = "src/**/*.edge.test.ts";

export const sharedConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["src/**/*.test.ts"],
    exclude: ["**/node_modules/**", EDGE_TESTS],
    restoreMocks: true,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

/**
 * A package's edge group (`vitest.edge.config.ts`: `export default edgeConfig`): its `*.edge.test.ts` files, one at
 * a time, in forked workers, under a machine-wide lock, trusting a TLS root the global setup creates (see
 * `@skittlesorter/test-utils/edge`).
 */
export const edgeConfig = defineConfig({
  ...sharedConfig,
  test: {
    ...sharedConfig.test,
    include: [EDGE_TESTS],
    exclude: ["**/node_modules/**"],
    pool: "forks",
    fileParallelism: false,
    // Workers are forked after the global setup, so they inherit its NODE_EXTRA_CA_CERTS.
    globalSetup: [fileURLToPath(new URL("./packages/test-utils/src/edge-setup.ts", import.meta.url))],
    // An edge test waits for the group before it (the lock), so it gets more time than a unit test.
    hookTimeout: 60_000,
  },
});
