/**
 * A scripted DPS for tests: an aedes broker behind a real TLS (or WSS) listener on loopback that hands
 * every register / poll request to a script and publishes the script's answers on
 * `$dps/registrations/res/{status}/?$rid=…`. Also a small openssl-made PKI (server certificate for
 * localhost/127.0.0.1, an issuing CA for device certificates) and a time-warping clock.
 */
import { randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "@skittlesorter/core";
import type { Aedes, Client, PublishPacket } from "aedes";
import { openssl, type TempDir, tempDir } from "./index.ts";
import {
  connackRefusal,
  type BrokerConnection as DpsConnection,
  describeConnection,
  publishTo,
  serveBroker,
} from "./scripted-broker.ts";

// ---------------------------------------------------------------------------------------------------------
// PKI

export interface TestPki {
  /** Root of the server certificate and of issued device chains. */
  rootPem: string;
  /** Issuing CA (signed by the root) for device certificates. */
  icaPem: string;
  /** TLS server certificate for localhost / 127.0.0.1 and its key. */
  serverCertPem: string;
  serverKeyPem: string;
  /** Signs a CSR (base64 DER) with the issuing CA; returns the chain as base64 DER, leaf → ICA → root. */
  issue(csrWire: string, options?: { commonName?: string; forcePublicKeyPem?: string }): Promise<string[]>;
  /** A bootstrap (onboarding) device certificate with CN = registration id, signed by the ICA. */
  deviceCertificate(registrationId: string): Promise<{ certPem: string; keyPem: string }>;
  [Symbol.asyncDispose](): Promise<void>;
}

const CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const ICA_EXT = "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n";
const SERVER_EXT =
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n";
const LEAF_EXT =
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";

/** Builds the PKI with the machine's openssl (an oracle independent of our csr package). */
export async function createTestPki(): Promise<TestPki> {
  const dir: TempDir = await tempDir("dps-pki-");
  const at = (name: string): string => join(dir.path, name);
  await writeFile(at("ca.ext"), CA_EXT);
  await writeFile(at("ica.ext"), ICA_EXT);
  await writeFile(at("server.ext"), SERVER_EXT);
  await writeFile(at("leaf.ext"), LEAF_EXT);
  const ecKey = (name: string) =>
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", at(name)]);
  await Promise.all([ecKey("root.key"), ecKey("ica.key"), ecKey("server.key")]);
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    at("root.key"),
    "-subj",
    "/CN=Scripted DPS Test Root",
    "-days",
    "30",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    at("root.pem"),
  ]);
  let serial = 1;
  const sign = async (
    csrPath: string,
    outPath: string,
    ca: "root" | "ica",
    ext: string,
    extra: string[] = [],
  ): Promise<void> => {
    serial += 1;
    await openssl([
      "x509",
      "-req",
      "-in",
      csrPath,
      "-CA",
      at(`${ca}.pem`),
      "-CAkey",
      at(`${ca}.key`),
      "-set_serial",
      String(serial),
      "-days",
      "30",
      "-extfile",
      at(ext),
      ...extra,
      "-out",
      outPath,
    ]);
  };
  await openssl([
    "req",
    "-new",
    "-key",
    at("ica.key"),
    "-subj",
    "/CN=Scripted DPS Issuing CA",
    "-out",
    at("ica.csr"),
  ]);
  await sign(at("ica.csr"), at("ica.pem"), "root", "ica.ext");
  await openssl([
    "req",
    "-new",
    "-key",
    at("server.key"),
    "-subj",
    "/CN=localhost",
    "-out",
    at("server.csr"),
  ]);
  await sign(at("server.csr"), at("server.pem"), "root", "server.ext");

  const [rootPem, icaPem, serverCertPem, serverKeyPem] = await Promise.all(
    ["root.pem", "ica.pem", "server.pem", "server.key"].map((name) => readFile(at(name), "utf8")),
  );
  const wireOf = (pem: string): string => pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");

  return {
    rootPem: rootPem as string,
    icaPem: icaPem as string,
    serverCertPem: serverCertPem as string,
    serverKeyPem: serverKeyPem as string,
    async issue(csrWire, options = {}) {
      const id = randomUUID();
      const csrPath = at(`${id}.csr`);
      const lines = csrWire.match(/.{1,64}/g) ?? [];
      await writeFile(
        csrPath,
        `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`,
      );
      const extra: string[] = [];
      if (options.commonName !== undefined) extra.push("-subj", `/CN=${options.commonName}`);
      if (options.forcePublicKeyPem !== undefined) {
        await writeFile(at(`${id}.pub`), options.forcePublicKeyPem);
        extra.push("-force_pubkey", at(`${id}.pub`));
      }
      await sign(csrPath, at(`${id}.pem`), "ica", "leaf.ext", extra);
      const leafPem = await readFile(at(`${id}.pem`), "utf8");
      return [wireOf(leafPem), wireOf(icaPem as string), wireOf(rootPem as string)];
    },
    async deviceCertificate(registrationId) {
      const id = randomUUID();
      await ecKey(`${id}.key`);
      await openssl([
        "req",
        "-new",
        "-key",
        at(`${id}.key`),
        "-subj",
        `/CN=${registrationId}`,
        "-out",
        at(`${id}.csr`),
      ]);
      await sign(at(`${id}.csr`), at(`${id}.pem`), "ica", "leaf.ext");
      const [certPem, keyPem] = await Promise.all([
        readFile(at(`${id}.pem`), "utf8"),
        readFile(at(`${id}.key`), "utf8"),
      ]);
      return { certPem, keyPem };
    },
    [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose](),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Scripted DPS

/** A connection the scripted DPS accepted (or refused). */
export type { DpsConnection };

export interface DpsRequest {
  kind: "register" | "poll";
  topic: string;
  rid: string;
  operationId: string | undefined;
  /** Parsed JSON body (register), or the raw text. */
  body: unknown;
  connection: DpsConnection;
  /** `Date.now()` when the broker received it. */
  receivedAt: number;
}

export interface DpsReply {
  status: number;
  body?: unknown;
  /** Appended as `&retry-after=…`. */
  retryAfter?: number | string | undefined;
  /** Answer with this `$rid` instead of the request's. */
  rid?: string | undefined;
}

/** `"drop"` destroys the connection without answering; `"silence"` (or undefined) answers nothing. */
export type DpsScriptResult = DpsReply | readonly DpsReply[] | "drop" | "silence" | undefined;
export type DpsScript = (request: DpsRequest, dps: ScriptedDps) => DpsScriptResult | Promise<DpsScriptResult>;

export interface ScriptedDpsOptions {
  pki: TestPki;
  script: DpsScript;
  transport?: "mqtts" | "wss" | undefined;
  /** Ask for a TLS client certificate (X.509 attestation); the chain is not checked here. */
  requestCert?: boolean | undefined;
  /** Return a CONNACK return code to refuse a connection (4 bad credentials, 5 not authorized). */
  authenticate?: (connection: DpsConnection) => number | undefined;
  /** Topic filters whose SUBSCRIBE is refused (SUBACK 0x80), e.g. a server that is not DPS. */
  refuseSubscriptions?: readonly string[];
}

export interface ScriptedDps {
  host: string;
  port: number;
  transport: "mqtts" | "wss";
  requests: DpsRequest[];
  connections: DpsConnection[];
  /** Replies sent: topic and body, in order. */
  replies: { topic: string; body: unknown }[];
  /** Sends an unsolicited answer to the latest connection. */
  send(connection: DpsConnection, reply: DpsReply): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startScriptedDps(options: ScriptedDpsOptions): Promise<ScriptedDps> {
  const { Aedes: AedesClass } = await import("aedes");
  const transport = options.transport ?? "mqtts";
  const requests: DpsRequest[] = [];
  const connections: DpsConnection[] = [];
  const replies: { topic: string; body: unknown }[] = [];
  const byClient = new Map<Client, DpsConnection>();

  const broker: Aedes = await AedesClass.createBroker({
    authenticate(client, username, password, done) {
      const connection: DpsConnection = describeConnection(client, username, password, connections.length);
      connections.push(connection);
      byClient.set(client, connection);
      const refused = options.authenticate?.(connection);
      if (refused !== undefined) {
        done(connackRefusal(refused), false);
        return;
      }
      done(null, true);
    },
    authorizeSubscribe(_client, subscription, callback) {
      // null negates the subscription: aedes answers it with SUBACK 0x80.
      callback(null, options.refuseSubscriptions?.includes(subscription.topic) ? null : subscription);
    },
    authorizePublish(client, packet, callback) {
      // Accept every request (an error here would disconnect) and answer on the side.
      callback(null);
      if (client === null) return;
      const connection = byClient.get(client);
      if (connection === undefined) return;
      const request = parseRequest(packet, connection);
      if (request === undefined) return;
      requests.push(request);
      void (async () => {
        const result = await options.script(request, dps);
        if (result === "drop") {
          connection.drop();
          return;
        }
        if (result === undefined || result === "silence") return;
        const list: readonly DpsReply[] = Array.isArray(result) ? result : [result as DpsReply];
        for (const reply of list) await send(connection, reply, request.rid);
      })().catch(() => {});
    },
  });

  const send = (connection: DpsConnection, reply: DpsReply, rid?: string): Promise<void> => {
    const effectiveRid = reply.rid ?? rid ?? "0";
    let topic = `$dps/registrations/res/${reply.status}/?$rid=${effectiveRid}`;
    if (reply.retryAfter !== undefined) topic += `&retry-after=${reply.retryAfter}`;
    replies.push({ topic, body: reply.body });
    return publishTo(
      connection.client,
      topic,
      Buffer.from(reply.body === undefined ? "" : JSON.stringify(reply.body)),
    );
  };

  const { port, close } = await serveBroker(broker, {
    transport,
    pki: options.pki,
    requestCert: options.requestCert,
  });

  const dps: ScriptedDps = {
    host: "localhost",
    port,
    transport,
    requests,
    connections,
    replies,
    send: (connection, reply) => send(connection, reply),
    close,
    [Symbol.asyncDispose]: close,
  };
  return dps;
}

function parseRequest(packet: PublishPacket, connection: DpsConnection): DpsRequest | undefined {
  const topic = packet.topic;
  const kind = topic.startsWith("$dps/registrations/PUT/iotdps-register/")
    ? "register"
    : topic.startsWith("$dps/registrations/GET/iotdps-get-operationstatus/")
      ? "poll"
      : undefined;
  if (kind === undefined) return undefined;
  const query = new URLSearchParams(topic.slice(topic.indexOf("?") + 1));
  const text = Buffer.from(packet.payload as Buffer).toString("utf8");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return {
    kind,
    topic,
    rid: query.get("$rid") ?? "",
    operationId: query.get("operationId") ?? undefined,
    body,
    connection,
    receivedAt: Date.now(),
  };
}

// ---------------------------------------------------------------------------------------------------------
// A well-behaved DPS as a script, for tests to wrap

export interface StandardDpsOptions {
  pki?: TestPki | undefined;
  /** 202 answers to polls before the 200. Default 1. */
  pollsBeforeAssigned?: number | undefined;
  /** Answer the register request itself with 200 assigned (no polling). */
  assignOnRegister?: boolean | undefined;
  /** `retry-after` on 202s; undefined sends none. Default 1. */
  retryAfter?: number | undefined;
  hub?: string | undefined;
  /** How to issue; default: sign the CSR as is. */
  issue?: (csrWire: string, registrationId: string) => Promise<string[]> | undefined;
}

/** register → 202 assigning → poll (202 …) → 200 assigned, with an issued chain when a CSR came. */
export function standardDps(options: StandardDpsOptions = {}): DpsScript {
  const polls = new Map<string, number>();
  const registrations = new Map<
    string,
    { registrationId: string; csr: string | undefined; payload: unknown }
  >();
  const retryAfter = "retryAfter" in options ? options.retryAfter : 1;
  return async (request) => {
    if (request.kind === "register") {
      const body = request.body as { registrationId: string; csr?: string; payload?: unknown };
      const operationId = `4.d0a671905ea5b2c8.${randomUUID()}`;
      registrations.set(operationId, {
        registrationId: body.registrationId,
        csr: body.csr,
        payload: body.payload,
      });
      polls.set(operationId, 0);
      if (options.assignOnRegister === true) {
        const registration = { registrationId: body.registrationId, csr: body.csr, payload: body.payload };
        return assigned(operationId, registration);
      }
      return {
        status: 202,
        body: { operationId, status: "assigning" },
        retryAfter,
      };
    }
    const operationId = request.operationId ?? "";
    const registration = registrations.get(operationId);
    if (registration === undefined) {
      return {
        status: 404,
        body: { errorCode: 404201, trackingId: "t-404", message: "Operation not found." },
      };
    }
    const count = (polls.get(operationId) ?? 0) + 1;
    polls.set(operationId, count);
    if (count <= (options.pollsBeforeAssigned ?? 1)) {
      return {
        status: 202,
        body: {
          operationId,
          status: "assigning",
          registrationState: { registrationId: registration.registrationId, status: "assigning" },
        },
        retryAfter,
      };
    }
    return assigned(operationId, registration);
  };

  async function assigned(
    operationId: string,
    registration: { registrationId: string; csr: string | undefined; payload: unknown },
  ): Promise<DpsReply> {
    let chain: string[] | undefined;
    if (registration.csr !== undefined) {
      chain = options.issue
        ? await options.issue(registration.csr, registration.registrationId)
        : await options.pki?.issue(registration.csr);
    }
    return {
      status: 200,
      body: {
        operationId,
        status: "assigned",
        registrationState: {
          registrationId: registration.registrationId,
          createdDateTimeUtc: "2026-01-21T10:30:00.0000000Z",
          assignedHub: options.hub ?? "skittle-hub.azure-devices.net",
          deviceId: registration.registrationId,
          status: "assigned",
          substatus: "initialAssignment",
          lastUpdatedDateTimeUtc: "2026-01-21T10:30:01.0000000Z",
          etag: "IjYxMDA4ZDQ2LTAwMDAtMDEwMC0wMDAwLTVlOGZlM2QxMDAwMCI=",
          ...(registration.payload === undefined ? {} : { payload: { echo: registration.payload } }),
          issuedCertificateChain: chain,
        },
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Clock

export interface WarpClock extends Clock {
  /** Every delay requested through setTimeout, in requested (virtual) milliseconds. */
  readonly requested: number[];
}

/**
 * A clock whose timers run `factor` times faster than requested (0.01: a 3 s wait takes 30 ms) and
 * whose `now()` advances in virtual time, so retry and deadline maths stay consistent.
 */
export function warpClock(factor: number): WarpClock {
  const start = Date.now();
  const requested: number[] = [];
  return {
    requested,
    now: () => start + (Date.now() - start) / factor,
    setTimeout(callback, ms) {
      requested.push(ms);
      return setTimeout(callback, Math.max(0, ms * factor));
    },
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}
