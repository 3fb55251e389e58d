import { parseSasToken, verifySasToken } from "@skittlesorter/attestation";
import { describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

const GROUP_KEY = "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==";
const REGISTRATION_ID = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6";
const DEVICE_KEY = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";
const ID_SCOPE = "0ne00000A0A";
const RESOURCE_URI = `${ID_SCOPE}/registrations/${REGISTRATION_ID}`;
const base = ["sas", "--id-scope", ID_SCOPE, "--registration-id", REGISTRATION_ID];

describe("skittle sas", () => {
  it("prints a registration SAS token signed with the device key, valid for an hour", async () => {
    const before = Math.floor(Date.now() / 1000);
    const run = await runCli([...base, "--key", DEVICE_KEY]);
    const after = Math.floor(Date.now() / 1000);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    const token = run.stdout.trimEnd();
    expect(token).toMatch(/^SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fsn-007/);
    const parsed = verifySasToken(token, DEVICE_KEY, {
      expectedResourceUri: RESOURCE_URI,
      keyName: "registration",
    });
    expect(parsed.expiresAt).toBeGreaterThanOrEqual(before + 3600);
    expect(parsed.expiresAt).toBeLessThanOrEqual(after + 3600);
  });

  it("derives the device key first with --group-key", async () => {
    const run = await runCli([...base, "--group-key", GROUP_KEY, "--ttl-seconds", "60"]);
    expect(run.code).toBe(0);
    const parsed = verifySasToken(run.stdout.trimEnd(), DEVICE_KEY, { expectedResourceUri: RESOURCE_URI });
    expect(parsed.expiresAt - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(60);
  });

  it("prints {token, resourceUri, expiresAt} with --json", async () => {
    const run = await runCli([...base, "--key", DEVICE_KEY, "--ttl-seconds", "120", "--json"]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(result).sort()).toEqual(["expiresAt", "resourceUri", "token"]);
    expect(result.resourceUri).toBe(RESOURCE_URI);
    expect(result.expiresAt).toBe(parseSasToken(String(result.token)).expiresAt);
    expect(verifySasToken(String(result.token), DEVICE_KEY, { keyName: "registration" }).resourceUri).toBe(
      RESOURCE_URI,
    );
  });

  it("shows help with exit 0", async () => {
    const run = await runCli(["sas", "--help"]);
    expect(run.code).toBe(0);
    for (const option of [
      "--id-scope",
      "--registration-id",
      "--key",
      "--group-key",
      "--ttl-seconds",
      "--json",
    ]) {
      expect(run.stdout).toContain(option);
    }
  });

  it.each([
    ["neither key", [...base], /exactly one of --key .* or --group-key/],
    ["both keys", [...base, "--key", DEVICE_KEY, "--group-key", GROUP_KEY], /exactly one of --key/],
    ["no id scope", ["sas", "--registration-id", "dev-1", "--key", DEVICE_KEY], /--id-scope/],
    ["no registration id", ["sas", "--id-scope", ID_SCOPE, "--key", DEVICE_KEY], /--registration-id/],
    [
      "a bad ttl",
      [...base, "--key", DEVICE_KEY, "--ttl-seconds", "soon"],
      /--ttl-seconds must be a positive/,
    ],
    ["a zero ttl", [...base, "--key", DEVICE_KEY, "--ttl-seconds", "0"], /--ttl-seconds must be a positive/],
  ])("exits 2 for %s, naming the option", async (_what, argv, message) => {
    const run = await runCli(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe("");
  });

  it("exits 1 with the error code for a device key that is not base64", async () => {
    const run = await runCli([...base, "--key", "abc"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[ATTESTATION_INVALID_KEY\]: /);
  });

  it("exits 1 with a clear message for a bad registration id", async () => {
    const run = await runCli([
      "sas",
      "--id-scope",
      ID_SCOPE,
      "--registration-id",
      "-dev",
      "--key",
      DEVICE_KEY,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error [ATTESTATION_INVALID_REGISTRATION_ID]");
    expect(run.stderr).toContain('starts with "-"');
  });
});
