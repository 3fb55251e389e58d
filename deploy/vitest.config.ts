import { defineConfig } from "vitest/config";

// The deployment checks (`pnpm test:deploy`, run from the root `pnpm test`): the Pi installer and the systemd unit.
export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
