import { symmetricKeyAttestation } from "@skittlesorter/attestation";
import { createCsr, generateKeyPair } from "@skittlesorter/csr";
import { describe, expect, it } from "vitest";
import { type MqttConnect, type ProvisionOptions, provision } from "./index.ts";

const neverConnect: MqttConnect = () => {
  throw new Error("must not connect");
};

const base: ProvisionOptions = {
  host: "dps.example.net",
  idScope: "0ne00000A0A",
  attestation: symmetricKeyAttestation({
    registrationId: "dev-1",
    deviceKey: Buffer.alloc(32, 1).toString("base64"),
  }),
  connect: neverConnect,
};

describe("provision option checks (before any connection)", () => {
  it.each<[string, Partial<ProvisionOptions>, RegExp]>([
    ["no host", { host: " " }, /host is required/],
    ["no id scope", { idScope: "" }, /idScope is required/],
    ["a bad id scope", { idScope: "scope with spaces" }, /ID scope/],
    ["a bad port", { port: 70_000 }, /port must be/],
    ["a bad transport", { transport: "tcp" as never }, /transport must be/],
    ["a zero deadline", { timeoutMs: 0 }, /timeoutMs must be/],
    ["inverted retry-after bounds", { minRetryAfterMs: 5_000, maxRetryAfterMs: 1_000 }, /maxRetryAfterMs/],
    ["an unserialisable payload", { payload: { big: 1n } }, /payload must be JSON/],
    ["a CSR that is not a CSR", { csr: { wire: "!!", publicKey: undefined as never } }, /csr.wire/],
  ])("refuses %s with DPS_INVALID_OPTIONS", async (_name, override, message) => {
    await expect(provision({ ...base, ...override })).rejects.toMatchObject({
      code: "DPS_INVALID_OPTIONS",
      message: expect.stringMatching(message),
    });
  });

  it("refuses a CSR made with another key than the one given", async () => {
    const keyPair = await generateKeyPair("ec-p256");
    const other = await generateKeyPair("ec-p256");
    const csr = await createCsr("dev-1", keyPair);
    await expect(
      provision({ ...base, csr: { wire: csr.pem, publicKey: other.publicKey } }),
    ).rejects.toMatchObject({
      code: "DPS_INVALID_OPTIONS",
      message: expect.stringContaining("public key"),
    });
  });

  it("rejects at once with the reason of an already aborted signal", async () => {
    const reason = new Error("stop");
    await expect(provision({ ...base, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});

describe("TLS context", () => {
  /** The options of the first connection `provision` opens (it fails at once: no DPS behind it). */
  async function firstConnectOptions(options: Partial<ProvisionOptions>): Promise<Record<string, unknown>> {
    let seen: Record<string, unknown> | undefined;
    const connect: MqttConnect = (clientOptions) => {
      seen ??= clientOptions as Record<string, unknown>;
      throw new Error("no DPS here");
    };
    await provision({ ...base, ...options, connect, timeoutMs: 50 }).catch(() => undefined);
    if (seen === undefined) throw new Error("provision did not connect");
    return seen;
  }

  it("is built once per trusted CA and reused by later provisioning runs", async () => {
    const rootA = "-----BEGIN CERTIFICATE-----\nnot parsed until use\n-----END CERTIFICATE-----\n";
    const first = await firstConnectOptions({ ca: rootA });
    const second = await firstConnectOptions({ ca: rootA });
    expect(first.ca).toBe(rootA);
    expect(first.secureContext).toBeDefined();
    expect(second.secureContext).toBe(first.secureContext);
    const other = await firstConnectOptions({ ca: `${rootA}\n` });
    expect(other.secureContext).not.toBe(first.secureContext);
    expect((await firstConnectOptions({})).secureContext).toBeUndefined();
  });
});
