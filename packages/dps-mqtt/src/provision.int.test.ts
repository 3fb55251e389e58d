import { X509Certificate } from "node:crypto";
import { loadX509Attestation, symmetricKeyAttestation } from "@skittlesorter/attestation";
import type { Logger } from "@skittlesorter/core";
import { createCsr, generateKeyPair, type KeyType, publicKeyToPem } from "@skittlesorter/csr";
import {
  createTestPki,
  type DpsScript,
  type ScriptedDps,
  type ScriptedDpsOptions,
  standardDps,
  startScriptedDps,
  type TestPki,
  type WarpClock,
  warpClock,
} from "@skittlesorter/test-utils/scripted-dps";
import { type MqttClient, connect as mqttConnect } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DpsError, isDpsError, type MqttConnect, type ProvisionOptions, provision } from "./index.ts";

const idScope = "0ne00000A0A";
const groupKey = Buffer.alloc(64, 3).toString("base64");
const registrationId = "skittle-001";

let pki: TestPki;
const servers: ScriptedDps[] = [];

beforeAll(async () => {
  pki = await createTestPki();
});

afterAll(async () => {
  await Promise.all(servers.map((dps) => dps.close()));
  await pki?.[Symbol.asyncDispose]();
});

async function dpsWith(script: DpsScript, extra: Partial<ScriptedDpsOptions> = {}): Promise<ScriptedDps> {
  const dps = await startScriptedDps({ pki, script, ...extra });
  servers.push(dps);
  return dps;
}

interface Recorder {
  connect: MqttConnect;
  clients: MqttClient[];
}

/** The real mqtt.connect, remembering every client so tests can check they were ended and left clean. */
function recorder(): Recorder {
  const clients: MqttClient[] = [];
  return {
    clients,
    connect(options) {
      const client = mqttConnect(options);
      clients.push(client);
      return client;
    },
  };
}

interface LogLine {
  level: string;
  message: string;
  fields: unknown;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: unknown): void => {
      lines.push({ level, message, fields });
    };
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

async function deviceCsr(id = registrationId, keyType: KeyType = "ec-p256") {
  const keyPair = await generateKeyPair(keyType);
  const csr = await createCsr(id, keyPair);
  return { keyPair, csr };
}

/** Fast virtual time: timers run at 1 % of the requested time. Generous real-time limits for a busy machine. */
function fastOptions(
  dps: ScriptedDps,
  clock: WarpClock,
  extra: Partial<ProvisionOptions> = {},
): ProvisionOptions {
  return {
    host: dps.host,
    port: dps.port,
    transport: dps.transport,
    idScope,
    attestation: symmetricKeyAttestation({ registrationId, groupKey }),
    ca: pki.rootPem,
    clock,
    timeoutMs: 2_500_000,
    requestTimeoutMs: 1_000_000,
    ...extra,
  };
}

/** Delays the client asked for, without the deadline / request-timeout / close timers. */
function waits(clock: WarpClock): number[] {
  return clock.requested.filter((ms) => ms < 100_000);
}

function expectCleanClients(clients: readonly MqttClient[]): void {
  expect(clients.length).toBeGreaterThan(0);
  for (const client of clients) {
    expect(client.connected).toBe(false);
    expect(client.listenerCount("message")).toBe(0);
  }
}

describe("provision over MQTT/TLS against a scripted DPS", () => {
  it("registers with a group key and a CSR: 202 → poll → 200 with a checked chain", async () => {
    const dps = await dpsWith(standardDps({ pki, pollsBeforeAssigned: 2, retryAfter: 1 }));
    const { keyPair, csr } = await deviceCsr();
    const { logger, lines } = captureLogger();
    const rec = recorder();
    const clock = warpClock(0.01);
    const result = await provision(
      fastOptions(dps, clock, {
        csr: { wire: csr.wire, publicKey: keyPair.publicKey },
        logger,
        connect: rec.connect,
        userAgent: "skittle-test/1.0",
      }),
    );

    expect(result).toMatchObject({
      registrationId,
      deviceId: registrationId,
      assignedHub: "skittle-hub.azure-devices.net",
      status: "assigned",
      substatus: "initialAssignment",
      createdDateTimeUtc: "2026-01-21T10:30:00.0000000Z",
      lastUpdatedDateTimeUtc: "2026-01-21T10:30:01.0000000Z",
      etag: "IjYxMDA4ZDQ2LTAwMDAtMDEwMC0wMDAwLTVlOGZlM2QxMDAwMCI=",
    });
    const chain = result.issuedCertificateChain;
    expect(chain?.pems).toHaveLength(3);
    expect(chain?.certificates[0]?.commonName).toBe(registrationId);
    expect(chain?.bundle).toBe(chain?.pems.join(""));
    const leaf = new X509Certificate(chain?.pems[0] as string);
    expect(leaf.publicKey.export({ type: "spki", format: "pem" })).toBe(publicKeyToPem(keyPair.publicKey));
    expect(leaf.verify(new X509Certificate(pki.icaPem).publicKey)).toBe(true);

    // The wire: one connection, client id, username, SAS password, fresh $rid per request.
    expect(dps.connections).toHaveLength(1);
    // Without mqtt-packet's process-wide cache of 65,536 number buffers.
    expect(rec.clients[0]?.options.writeCache).toBe(false);
    const [connection] = dps.connections;
    expect(connection?.clientId).toBe(registrationId);
    expect(connection?.username).toBe(
      `${idScope}/registrations/${registrationId}/api-version=2025-07-01-preview&ClientVersion=skittle-test%2F1.0`,
    );
    expect(connection?.password).toMatch(/^SharedAccessSignature sr=.+&sig=.+&se=\d+&skn=registration$/);
    expect(dps.requests.map((request) => request.kind)).toEqual(["register", "poll", "poll", "poll"]);
    expect(new Set(dps.requests.map((request) => request.rid)).size).toBe(4);
    expect(dps.requests[0]?.body).toEqual({ registrationId, csr: csr.wire });
    const operationId = (dps.replies[0]?.body as { operationId?: string } | undefined)?.operationId;
    expect(operationId).toMatch(/^4\./);
    expect(dps.requests.slice(1).every((request) => request.operationId === operationId)).toBe(true);
    // retry-after: 1 honoured before each poll.
    expect(waits(clock)).toEqual([1_000, 1_000, 1_000]);

    expectCleanClients(rec.clients);

    // Debug output shows topics and statuses, never the SAS signature or keys.
    const logged = JSON.stringify(lines);
    expect(logged).toContain("$dps/registrations/PUT/iotdps-register/?$rid=");
    expect(logged).toContain('"statusCode":202');
    expect(logged).toContain('"status":"assigning"');
    const sig = decodeURIComponent(/sig=([^&]+)/.exec(connection?.password ?? "")?.[1] ?? "x");
    expect(logged).not.toContain(sig);
    expect(logged).not.toContain(encodeURIComponent(sig));
    expect(logged).not.toContain("SharedAccessSignature");
    expect(logged).not.toContain(groupKey);
    expect(logged).not.toContain("PRIVATE KEY");
  });

  it("turns Nagle's algorithm off on its socket, so a poll is not held back behind its PUBACK", async () => {
    const dps = await dpsWith(standardDps({ pki, pollsBeforeAssigned: 1, retryAfter: 1 }));
    const noDelayCalls: unknown[][] = [];
    const connect: MqttConnect = (options) => {
      const client = mqttConnect(options);
      const stream = client.stream as unknown as { setNoDelay(noDelay?: boolean): unknown };
      const setNoDelay = stream.setNoDelay.bind(stream);
      stream.setNoDelay = (...args: [boolean?]) => {
        noDelayCalls.push(args);
        return setNoDelay(...args);
      };
      return client;
    };
    await provision(fastOptions(dps, warpClock(0.01), { connect }));
    expect(noDelayCalls).toEqual([[true]]);
  });

  it("waits for retry-after between polls in real time", async () => {
    const dps = await dpsWith(standardDps({ pki, pollsBeforeAssigned: 1, retryAfter: 1 }));
    await provision({
      host: dps.host,
      port: dps.port,
      idScope,
      attestation: symmetricKeyAttestation({ registrationId, groupKey }),
      ca: pki.rootPem,
    });
    const times = dps.requests.map((request) => request.receivedAt);
    expect(times).toHaveLength(3);
    for (let i = 1; i < times.length; i++) {
      expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(900);
    }
  });

  it("polls after the interval plus jitter when retry-after is absent, and clamps a huge retry-after", async () => {
    let polls = 0;
    const inner = standardDps({ pki, pollsBeforeAssigned: 2, retryAfter: undefined });
    const dps = await dpsWith(async (request, server) => {
      const reply = await inner(request, server);
      if (
        request.kind === "poll" &&
        ++polls === 1 &&
        reply &&
        typeof reply === "object" &&
        "status" in reply
      ) {
        return { ...reply, retryAfter: 86_400 };
      }
      return reply;
    });
    const clock = warpClock(0.01);
    const result = await provision(
      fastOptions(dps, clock, { pollIntervalMs: 2_000, maxRetryAfterMs: 30_000, random: () => 0.5 }),
    );
    expect(result.status).toBe("assigned");
    // register → 2 000 + 50 % of 1 000 jitter; first poll said 86 400 s → clamped to 30 000.
    expect(waits(clock)).toEqual([2_500, 30_000, 2_500]);
  });

  it("retries a 429 after its retry-after, then succeeds", async () => {
    let registers = 0;
    const inner = standardDps({ pki, pollsBeforeAssigned: 0 });
    const dps = await dpsWith((request, server) => {
      if (request.kind === "register" && ++registers === 1) {
        return {
          status: 429,
          retryAfter: 3,
          body: { errorCode: 429001, trackingId: "t-429", message: "Throttled" },
        };
      }
      return inner(request, server);
    });
    const clock = warpClock(0.01);
    const result = await provision(fastOptions(dps, clock));
    expect(result.deviceId).toBe(registrationId);
    expect(dps.requests.map((request) => request.kind)).toEqual(["register", "register", "poll"]);
    expect(waits(clock)[0]).toBe(3_000);
  });

  it("backs off exponentially on 5xx without retry-after and keeps polling the same operation", async () => {
    let polls = 0;
    const inner = standardDps({ pki, pollsBeforeAssigned: 0 });
    const dps = await dpsWith((request, server) => {
      if (request.kind === "poll" && ++polls <= 3) return { status: 503, body: { errorCode: 503000 } };
      return inner(request, server);
    });
    const clock = warpClock(0.01);
    await provision(
      fastOptions(dps, clock, { initialBackoffMs: 1_000, maxBackoffMs: 60_000, random: () => 1 }),
    );
    expect(dps.requests.map((request) => request.kind)).toEqual(["register", "poll", "poll", "poll", "poll"]);
    const operationIds = new Set(dps.requests.slice(1).map((request) => request.operationId));
    expect(operationIds.size).toBe(1);
    expect(waits(clock)).toEqual([1_000, 1_000, 2_000, 4_000]);
  });

  it("fails with a typed DPS_UNAUTHORIZED error on a 401 with errorCode", async () => {
    const dps = await dpsWith(() => ({
      status: 401,
      body: {
        errorCode: 401002,
        trackingId: "trk-401",
        message: "Invalid certificate.",
        timestampUtc: "2026-01-21T10:30:00Z",
        info: { reason: "unverified" },
      },
    }));
    const error = await provision(fastOptions(dps, warpClock(0.01))).catch((e: unknown) => e);
    expect(isDpsError(error)).toBe(true);
    expect(error).toMatchObject({
      code: "DPS_UNAUTHORIZED",
      statusCode: 401,
      errorCode: 401002,
      trackingId: "trk-401",
      info: { reason: "unverified" },
    });
    expect((error as Error).message).toContain("Invalid certificate.");
    expect((error as Error).message).toMatch(/key/);
    expect((error as Error).message).toMatch(/verified/);
    expect((error as Error).message).toMatch(/registration id/);
    expect(dps.requests).toHaveLength(1);
  });

  it("reports a final 4xx other than 401 as DPS_REQUEST_REJECTED", async () => {
    const dps = await dpsWith(() => ({
      status: 400,
      body: { errorCode: 400012, trackingId: "trk-400", message: "Deserialization error" },
    }));
    await expect(provision(fastOptions(dps, warpClock(0.01)))).rejects.toMatchObject({
      code: "DPS_REQUEST_REJECTED",
      statusCode: 400,
      errorCode: 400012,
      trackingId: "trk-400",
    });
  });

  it("fails with DPS_REGISTRATION_FAILED when the status is failed", async () => {
    const dps = await dpsWith((request) =>
      request.kind === "register"
        ? { status: 202, retryAfter: 1, body: { operationId: "op-f", status: "assigning" } }
        : {
            status: 200,
            body: {
              operationId: "op-f",
              status: "failed",
              registrationState: {
                registrationId,
                status: "failed",
                errorCode: 400209,
                errorMessage: "Custom allocation failed",
              },
            },
          },
    );
    await expect(provision(fastOptions(dps, warpClock(0.01)))).rejects.toMatchObject({
      code: "DPS_REGISTRATION_FAILED",
      statusCode: 200,
      errorCode: 400209,
      registrationStatus: "failed",
      operationId: "op-f",
      message: expect.stringContaining("Custom allocation failed"),
    });
  });

  it("fails with DPS_REGISTRATION_DISABLED when the status is disabled", async () => {
    const dps = await dpsWith(() => ({
      status: 200,
      body: {
        operationId: "op-d",
        status: "disabled",
        registrationState: { registrationId, status: "disabled" },
      },
    }));
    await expect(provision(fastOptions(dps, warpClock(0.01)))).rejects.toMatchObject({
      code: "DPS_REGISTRATION_DISABLED",
      registrationStatus: "disabled",
    });
  });

  it("reconnects when the connection drops after the register publish and registers again", async () => {
    let registers = 0;
    const inner = standardDps({ pki, pollsBeforeAssigned: 1 });
    const dps = await dpsWith((request, server) => {
      if (request.kind === "register" && ++registers === 1) return "drop";
      return inner(request, server);
    });
    const rec = recorder();
    const { keyPair, csr } = await deviceCsr();
    const result = await provision(
      fastOptions(dps, warpClock(0.01), {
        connect: rec.connect,
        csr: { wire: csr.wire, publicKey: keyPair.publicKey },
      }),
    );
    expect(result.issuedCertificateChain?.pems).toHaveLength(3);
    expect(dps.connections).toHaveLength(2);
    expect(dps.requests.map((request) => [request.kind, request.connection.index])).toEqual([
      ["register", 0],
      ["register", 1],
      ["poll", 1],
      ["poll", 1],
    ]);
    expectCleanClients(rec.clients);
  });

  it("resumes polling the known operationId on a new connection when the drop happens mid-poll", async () => {
    let polls = 0;
    const inner = standardDps({ pki, pollsBeforeAssigned: 1 });
    const dps = await dpsWith((request, server) => {
      if (request.kind === "poll" && ++polls === 1) return "drop";
      return inner(request, server);
    });
    const result = await provision(fastOptions(dps, warpClock(0.01)));
    expect(result.status).toBe("assigned");
    expect(dps.requests.map((request) => [request.kind, request.connection.index])).toEqual([
      ["register", 0],
      ["poll", 0],
      ["poll", 1],
      ["poll", 1],
    ]);
    expect(new Set(dps.requests.slice(1).map((request) => request.operationId)).size).toBe(1);
  });

  it("ignores answers with a foreign $rid and keeps one message listener across polls", async () => {
    const inner = standardDps({ pki, pollsBeforeAssigned: 3 });
    const listenerCounts: number[] = [];
    const rec = recorder();
    const dps = await dpsWith(async (request, server) => {
      listenerCounts.push(rec.clients.at(-1)?.listenerCount("message") ?? -1);
      const reply = await inner(request, server);
      if (
        request.kind !== "poll" ||
        reply === undefined ||
        typeof reply !== "object" ||
        !("status" in reply)
      ) {
        return reply;
      }
      // A stale/foreign answer that would end the registration wrongly, sent before the real one.
      const foreign = {
        status: 200,
        rid: "someone-else",
        body: {
          operationId: "x",
          status: "assigned",
          registrationState: { deviceId: "intruder", assignedHub: "evil.example.net" },
        },
      };
      return [foreign, reply];
    });
    const result = await provision(fastOptions(dps, warpClock(0.01), { connect: rec.connect }));
    expect(result.deviceId).toBe(registrationId);
    expect(result.assignedHub).toBe("skittle-hub.azure-devices.net");
    expect(dps.requests.filter((request) => request.kind === "poll")).toHaveLength(4);
    expect(new Set(listenerCounts)).toEqual(new Set([listenerCounts[0]]));
    expectCleanClients(rec.clients);
  });

  it("sends a custom allocation payload and returns DPS's payload", async () => {
    const dps = await dpsWith(standardDps({ pki, pollsBeforeAssigned: 0 }));
    const result = await provision(
      fastOptions(dps, warpClock(0.01), { payload: { site: "kitchen", bins: 6 } }),
    );
    expect(dps.requests[0]?.body).toEqual({ registrationId, payload: { site: "kitchen", bins: 6 } });
    expect(dps.connections[0]?.username).toContain("api-version=2019-03-31");
    expect(result.payload).toEqual({ echo: { site: "kitchen", bins: 6 } });
    expect(result.issuedCertificateChain).toBeUndefined();
  });

  it("rejects with signal.reason when aborted, and closes the connection", async () => {
    const controller = new AbortController();
    const reason = new Error("operator cancelled");
    const rec = recorder();
    const dps = await dpsWith(() => {
      setTimeout(() => controller.abort(reason), 20);
      return "silence";
    });
    await expect(
      provision(fastOptions(dps, warpClock(0.01), { signal: controller.signal, connect: rec.connect })),
    ).rejects.toBe(reason);
    expectCleanClients(rec.clients);
  });

  it("gives up with DPS_TIMEOUT at the overall deadline", async () => {
    const dps = await dpsWith(() => ({
      status: 202,
      retryAfter: 2,
      body: { operationId: "op-slow", status: "assigning" },
    }));
    const rec = recorder();
    const started = Date.now();
    const error = await provision(
      // The warped clock counts real round trips 100× too: a deadline of many retry-after periods keeps
      // several polls inside it even on a loaded machine.
      fastOptions(dps, warpClock(0.01), { timeoutMs: 120_000, connect: rec.connect }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DpsError);
    expect(error).toMatchObject({ code: "DPS_TIMEOUT", operationId: "op-slow" });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(dps.requests.length).toBeGreaterThan(3);
    expectCleanClients(rec.clients);
  });

  it("times out even while DPS keeps throttling", async () => {
    const dps = await dpsWith(() => ({
      status: 429,
      retryAfter: 1,
      body: { errorCode: 429001, message: "Throttled" },
    }));
    const error = await provision(fastOptions(dps, warpClock(0.01), { timeoutMs: 120_000 })).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "DPS_TIMEOUT" });
    expect((error as Error).message).toContain("429");
    expect((error as DpsError).cause).toMatchObject({ statusCode: 429 });
  });

  it("keeps retrying a refused connection with backoff until the deadline", async () => {
    const gone = await startScriptedDps({ pki, script: standardDps({ pki }) });
    const port = gone.port;
    await gone.close();
    const clock = warpClock(0.01);
    const error = await provision({
      ...fastOptions(gone, clock, { timeoutMs: 150_000, random: () => 1 }),
      port,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DPS_TIMEOUT", message: expect.stringContaining("ECONNREFUSED") });
    expect(waits(clock).slice(0, 4)).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it("refuses an issued chain whose leaf CN is not the registration id", async () => {
    const dps = await dpsWith(
      standardDps({
        pki,
        pollsBeforeAssigned: 0,
        issue: (wire) => pki.issue(wire, { commonName: "someone-else" }),
      }),
    );
    const { keyPair, csr } = await deviceCsr();
    const error = await provision(
      fastOptions(dps, warpClock(0.01), { csr: { wire: csr.wire, publicKey: keyPair.publicKey } }),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DPS_ISSUED_CHAIN_INVALID" });
    expect((error as DpsError).problems?.join(" ")).toContain("someone-else");
  });

  it("refuses an issued chain whose leaf does not carry the CSR's public key", async () => {
    const other = await generateKeyPair("ec-p256");
    const dps = await dpsWith(
      standardDps({
        pki,
        pollsBeforeAssigned: 0,
        issue: (wire) => pki.issue(wire, { forcePublicKeyPem: publicKeyToPem(other.publicKey) }),
      }),
    );
    const { keyPair, csr } = await deviceCsr();
    await expect(
      provision(fastOptions(dps, warpClock(0.01), { csr: { wire: csr.wire, publicKey: keyPair.publicKey } })),
    ).rejects.toMatchObject({
      code: "DPS_ISSUED_CHAIN_INVALID",
      problems: [expect.stringMatching(/public key/)],
    });
  });

  it("refuses an issued chain that does not verify to its returned root", async () => {
    const dps = await dpsWith(
      standardDps({
        pki,
        pollsBeforeAssigned: 0,
        // Leaf, root, ICA: the last certificate (the ICA) is not a root the leaf chains to.
        issue: async (wire) => {
          const [leaf, ica, root] = await pki.issue(wire);
          return [leaf, root, ica] as string[];
        },
      }),
    );
    const { keyPair, csr } = await deviceCsr();
    const error = await provision(
      fastOptions(dps, warpClock(0.01), { csr: { wire: csr.wire, publicKey: keyPair.publicKey } }),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DPS_ISSUED_CHAIN_INVALID" });
    expect((error as DpsError).problems?.length).toBeGreaterThan(0);
  });

  it("fails with DPS_CERTIFICATE_NOT_ISSUED when a CSR was sent but no chain came back", async () => {
    const dps = await dpsWith(standardDps({ pki, pollsBeforeAssigned: 0, issue: async () => [] }));
    const { keyPair, csr } = await deviceCsr();
    await expect(
      provision(fastOptions(dps, warpClock(0.01), { csr: { wire: csr.wire, publicKey: keyPair.publicKey } })),
    ).rejects.toMatchObject({ code: "DPS_CERTIFICATE_NOT_ISSUED" });
  });

  it("refuses a CSR whose CN is not the registration id before connecting", async () => {
    const dps = await dpsWith(standardDps({ pki }));
    const { keyPair, csr } = await deviceCsr("other-device");
    await expect(
      provision(fastOptions(dps, warpClock(0.01), { csr: { wire: csr.wire, publicKey: keyPair.publicKey } })),
    ).rejects.toMatchObject({
      code: "DPS_INVALID_OPTIONS",
      message: expect.stringContaining("other-device"),
    });
    expect(dps.connections).toHaveLength(0);
  });

  it("maps a CONNACK refusal to DPS_UNAUTHORIZED without retrying", async () => {
    const dps = await dpsWith(standardDps({ pki }), { authenticate: () => 5 });
    await expect(provision(fastOptions(dps, warpClock(0.01)))).rejects.toMatchObject({
      code: "DPS_UNAUTHORIZED",
    });
    expect(dps.connections).toHaveLength(1);
  });

  it("fails fast with DPS_PROTOCOL_ERROR when the server refuses the answer subscription", async () => {
    const dps = await dpsWith(standardDps({ pki }), { refuseSubscriptions: ["$dps/registrations/res/#"] });
    const rec = recorder();
    const error = await provision(fastOptions(dps, warpClock(0.01), { connect: rec.connect })).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: "DPS_PROTOCOL_ERROR",
      message: expect.stringContaining("refused the subscription to $dps/registrations/res/#"),
    });
    expect(dps.connections).toHaveLength(1);
    expect(dps.requests).toHaveLength(0);
    expectCleanClients(rec.clients);
  });

  it("fails fast with DPS_CONNECTION_FAILED when the server certificate is not trusted", async () => {
    const dps = await dpsWith(standardDps({ pki }));
    const options = fastOptions(dps, warpClock(0.01));
    delete options.ca;
    const error = await provision(options).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DPS_CONNECTION_FAILED" });
    expect((error as Error).message).toMatch(/--ca|`ca`/);
    expect(dps.connections).toHaveLength(0);
  });

  it("registers with X.509 attestation (TLS client certificate, no password) and a CSR", async () => {
    const dps = await dpsWith(standardDps({ pki, pollsBeforeAssigned: 1 }), { requestCert: true });
    const bootstrap = await pki.deviceCertificate("x509-device-7");
    const attestation = await loadX509Attestation({
      cert: bootstrap.certPem,
      key: bootstrap.keyPem,
      chain: pki.icaPem,
    });
    const { keyPair, csr } = await deviceCsr("x509-device-7", "ec-p384");
    const result = await provision(
      fastOptions(dps, warpClock(0.01), {
        attestation,
        csr: { wire: csr.wire, publicKey: keyPair.publicKey },
      }),
    );
    expect(result.deviceId).toBe("x509-device-7");
    expect(result.issuedCertificateChain?.certificates[0]?.commonName).toBe("x509-device-7");
    expect(dps.connections[0]).toMatchObject({ clientId: "x509-device-7", peerCommonName: "x509-device-7" });
    expect(dps.connections[0]?.password).toBeUndefined();
  });
});

describe("provision over MQTT/WebSocket", () => {
  it("registers over wss on /$iothub/websocket", async () => {
    const dps = await dpsWith(standardDps({ pki, pollsBeforeAssigned: 1 }), { transport: "wss" });
    const { keyPair, csr } = await deviceCsr();
    const result = await provision(
      fastOptions(dps, warpClock(0.01), { csr: { wire: csr.wire, publicKey: keyPair.publicKey } }),
    );
    expect(result.issuedCertificateChain?.pems).toHaveLength(3);
    expect(dps.requests.map((request) => request.kind)).toEqual(["register", "poll", "poll"]);
  });
});
