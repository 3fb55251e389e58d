import { defineConfig, mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.ts";

// README examples start the simulator and a Node process each: give them time on a loaded 2-core machine.
export default mergeConfig(
  sharedConfig,
  defineConfig({ test: { testTimeout: 120_000, hookTimeout: 60_000 } }),
);
