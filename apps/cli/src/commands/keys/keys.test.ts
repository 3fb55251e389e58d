import { describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

// Microsoft's worked example (DPS docs, concepts-symmetric-key-attestation.md).
const GROUP_KEY = "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==";
const REGISTRATION_ID = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6";
const DEVICE_KEY = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";

describe("skittle keys derive", () => {
  it("prints the derived device key for Microsoft's test vector", async () => {
    const run = await runCli([
      "keys",
      "derive",
      "--group-key",
      GROUP_KEY,
      "--registration-id",
      REGISTRATION_ID,
    ]);
    expect(run).toEqual({ code: 0, stdout: `${DEVICE_KEY}\n`, stderr: "" });
  });

  it("prints JSON with --json, with the registration id lowercased", async () => {
    const run = await runCli([
      "keys",
      "derive",
      "--group-key",
      GROUP_KEY,
      "--registration-id",
      REGISTRATION_ID.toUpperCase(),
      "--json",
    ]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ registrationId: REGISTRATION_ID, deviceKey: DEVICE_KEY });
  });

  it("shows help with exit 0", async () => {
    const run = await runCli(["keys", "derive", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("--group-key");
    expect(run.stdout).toContain("--registration-id");
    expect(run.stdout).toContain("--json");
  });

  it("exits 2 naming a missing option", async () => {
    const run = await runCli(["keys", "derive", "--registration-id", REGISTRATION_ID]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--group-key");
    expect(run.stdout).toBe("");
  });

  it("exits 1 with the error code for a key that is not base64, without echoing it", async () => {
    const run = await runCli(["keys", "derive", "--group-key", "not*base64", "--registration-id", "dev-1"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[ATTESTATION_INVALID_KEY\]: The group key is not valid base64/);
    expect(run.stderr).not.toContain("not*base64");
  });

  it("exits 1 with a clear message for a bad registration id", async () => {
    const run = await runCli(["keys", "derive", "--group-key", GROUP_KEY, "--registration-id", "dev_1!"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error [ATTESTATION_INVALID_REGISTRATION_ID]");
    expect(run.stderr).toContain('contains "!" at position 6');
  });
});
