// The data directory under systemd: StateDirectory= makes systemd create /var/lib/skittle-sorter and set
// $STATE_DIRECTORY, which becomes the default (deploy/systemd/skittle-sorter.service).
import { describe, expect, it } from "vitest";
import { resolveConfig } from "./index.ts";

const offline = { IoTHub: { SendTelemetry: false }, ChutePositions: { Reject: 134 } };
const configDir = "/etc/skittle-sorter";

describe("data directory", () => {
  it("defaults to ./data next to the configuration outside systemd", () => {
    expect(resolveConfig(offline, { configDir, env: {} }).dataDir).toBe("/etc/skittle-sorter/data");
  });

  it("defaults to $STATE_DIRECTORY (its first path) when systemd sets it", () => {
    const config = resolveConfig(offline, {
      configDir,
      env: { STATE_DIRECTORY: "/var/lib/skittle-sorter:/var/lib/other" },
    });
    expect(config.dataDir).toBe("/var/lib/skittle-sorter");
    expect(config.outbox.file).toBe("/var/lib/skittle-sorter/outbox.sqlite");
    expect(config.warnings).toEqual([]);
  });

  it("lets --data-dir win over $STATE_DIRECTORY without a warning", () => {
    const config = resolveConfig(offline, {
      configDir,
      dataDir: "/srv/sorter",
      env: { STATE_DIRECTORY: "/var/lib/skittle-sorter" },
    });
    expect(config.dataDir).toBe("/srv/sorter");
    expect(config.warnings).toEqual([]);
  });

  it("keeps an explicit DataDir but warns that the service can only write the state directory", () => {
    const config = resolveConfig(
      { ...offline, DataDir: "data" },
      { configDir, env: { STATE_DIRECTORY: "/var/lib/skittle-sorter" } },
    );
    expect(config.dataDir).toBe("/etc/skittle-sorter/data");
    expect(config.warnings).toEqual([expect.stringMatching(/DataDir .*state directory.*Remove DataDir/)]);
  });

  it("ignores an empty $STATE_DIRECTORY", () => {
    expect(resolveConfig(offline, { configDir, env: { STATE_DIRECTORY: "" } }).dataDir).toBe(
      "/etc/skittle-sorter/data",
    );
  });
});
