// Item 3, the crypto floor of one registration on this machine, each part in a tight loop: the server's side of
// a TLS handshake with the simulator's own certificate, verifying a P-384 CSR, and signing a P-384 leaf.
// Each is measured twice: the bare primitive (node:crypto) and the library call the simulator makes, as CPU time
// per call; the handshake as the server's main-thread busy time (its client runs in a worker thread).
import { createPublicKey, randomBytes, sign, verify, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { createServer, type TLSSocket } from "node:tls";
import { Worker } from "node:worker_threads";
import {
  certificateFacts,
  chainFromWire,
  chainToWire,
  createCertificateAuthority,
  createCsr,
  generateKeyPair,
  issueCertificate,
  parseCsr,
  publicKeysMatch,
  verifyChain,
} from "@skittlesorter/csr";

export interface Input {
  serverCertFile: string;
  serverKeyFile: string;
  caFile: string;
  handshakes: number;
  libraryLoops: number;
  primitiveLoops: number;
}

export interface Output {
  /** Main-thread (server) busy time per TLS handshake, the client running in a worker thread. */
  tlsServerMs: number;
  /** Wall time per sequential handshake (both ends). */
  tlsWallMs: number;
  tlsProtocol: string;
  tlsCipher: string;
  verifyPrimitiveMs: number;
  signPrimitiveMs: number;
  parseCsrMs: number;
  issueCertificateMs: number;
  /** Client side: what dps-mqtt does with an issued 3-certificate chain (decode, facts, key match, verify). */
  chainCheckMs: number;
  /** The same checks with node:crypto's X509Certificate. */
  chainCheckPrimitiveMs: number;
  /** Client side: `createCsr` for a P-384 key. */
  createCsrMs: number;
}

/** CPU time (user + system, all threads) per call: on a machine shared with other work, wall time would count waiting. */
const loop = async (count: number, body: () => unknown): Promise<number> => {
  for (let i = 0; i < Math.min(20, count); i += 1) await body(); // warm-up
  const started = process.cpuUsage();
  for (let i = 0; i < count; i += 1) await body();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000 / count;
};

// Client side of the handshakes, in a worker so that the main thread's busy time is the server's alone.
const CLIENT = `
const { parentPort, workerData } = require("node:worker_threads");
const tls = require("node:tls");
const once = () => new Promise((resolve, reject) => {
  const socket = tls.connect({ host: "127.0.0.1", port: workerData.port, ca: workerData.ca, servername: "localhost" });
  socket.once("secureConnect", () => {
    const info = { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
    socket.destroy();
    resolve(info);
  });
  socket.once("error", reject);
});
(async () => {
  let info;
  for (let i = 0; i < workerData.warmup; i++) info = await once();
  parentPort.postMessage({ ready: true });
  await new Promise((resolve) => parentPort.once("message", resolve));
  const started = performance.now();
  for (let i = 0; i < workerData.count; i++) info = await once();
  parentPort.postMessage({ wallMs: (performance.now() - started) / workerData.count, info });
})().catch((error) => parentPort.postMessage({ error: String(error) }));
`;

async function tlsHandshake(
  input: Input,
): Promise<{ serverMs: number; wallMs: number; protocol: string; cipher: string }> {
  const [cert, key, ca] = await Promise.all([
    readFile(input.serverCertFile, "utf8"),
    readFile(input.serverKeyFile, "utf8"),
    readFile(input.caFile, "utf8"),
  ]);
  // As the simulator's DPS endpoint: TLS 1.2+, its certificate, a client certificate requested.
  const server = createServer({
    cert,
    key,
    minVersion: "TLSv1.2",
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.on("secureConnection", (socket: TLSSocket) => socket.on("error", () => {}).end());
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const worker = new Worker(CLIENT, {
    eval: true,
    workerData: { port, ca, warmup: 20, count: input.handshakes },
  });
  try {
    const messages: {
      wallMs?: number;
      info?: { protocol: string; cipher: string };
      error?: string;
      ready?: boolean;
    }[] = [];
    let wake: (() => void) | undefined;
    worker.on("message", (message) => {
      messages.push(message);
      wake?.();
    });
    const next = async (): Promise<(typeof messages)[number]> => {
      while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const message = messages.shift() as (typeof messages)[number];
      if (message.error !== undefined) throw new Error(`TLS client: ${message.error}`);
      return message;
    };
    await next(); // warmed up
    const before = performance.eventLoopUtilization();
    worker.postMessage("go");
    const done = await next();
    const used = performance.eventLoopUtilization(before);
    return {
      serverMs: used.active / input.handshakes,
      wallMs: done.wallMs ?? Number.NaN,
      protocol: done.info?.protocol ?? "?",
      cipher: done.info?.cipher ?? "?",
    };
  } finally {
    await worker.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export async function measure(input: Input): Promise<Output> {
  const tls = await tlsHandshake(input);

  const device = await generateKeyPair("ec-p384");
  const csr = await createCsr("bench-floor-device", device);
  const csrDer = Buffer.from(csr.wire, "base64");
  const issuer = await createCertificateAuthority({
    commonName: "bench issuing CA",
    validityDays: 30,
    keyType: "ec-p384",
  });

  // Bare primitives: one ECDSA P-384/SHA-384 verification and one signature over data the size of a CSR's
  // and a leaf's to-be-signed part.
  const csrInfo = randomBytes(csrDer.length - 110);
  const csrSignature = sign("sha384", csrInfo, device.privateKey);
  const devicePublic = createPublicKey(device.privateKey);
  const tbs = randomBytes(450);
  const verifyPrimitiveMs = await loop(input.primitiveLoops, () => {
    if (!verify("sha384", csrInfo, devicePublic, csrSignature)) throw new Error("verify failed");
  });
  const signPrimitiveMs = await loop(input.primitiveLoops, () => sign("sha384", tbs, issuer.privateKey));

  // What the simulator calls for the same work.
  const parseCsrMs = await loop(input.libraryLoops, async () => {
    const info = await parseCsr(csrDer);
    if (!info.signatureValid) throw new Error("CSR signature invalid");
  });
  const issueCertificateMs = await loop(input.libraryLoops, () =>
    issueCertificate({
      publicKey: device.publicKey,
      commonName: "bench-floor-device",
      issuer: { certificatePem: issuer.certificatePem, privateKey: issuer.privateKey },
      validityDays: 30,
      extendedKeyUsage: ["clientAuth"],
      hash: "SHA-384",
    }),
  );
  // Client side: the issued chain (leaf → issuing CA → root) as DPS returns it, checked as dps-mqtt checks it.
  const root = await createCertificateAuthority({
    commonName: "bench root",
    validityDays: 30,
    keyType: "ec-p384",
  });
  const intermediate = await createCertificateAuthority({
    commonName: "bench issuing CA 2",
    validityDays: 30,
    keyType: "ec-p384",
    issuer: { certificatePem: root.certificatePem, privateKey: root.privateKey },
  });
  const leafPem = await issueCertificate({
    publicKey: device.publicKey,
    commonName: "bench-floor-device",
    issuer: { certificatePem: intermediate.certificatePem, privateKey: intermediate.privateKey },
    validityDays: 30,
    extendedKeyUsage: ["clientAuth"],
  });
  const wire = chainToWire([leafPem, intermediate.certificatePem, root.certificatePem]);
  const chainCheckMs = await loop(input.libraryLoops, () => {
    const { pems } = chainFromWire(wire);
    const facts = pems.map((pem) => certificateFacts(pem));
    if (facts[0]?.commonName !== "bench-floor-device") throw new Error("CN");
    if (!publicKeysMatch(facts[0].publicKey, device.publicKey)) throw new Error("key");
    const verdict = verifyChain(pems, { trustedRoots: [pems[pems.length - 1] as string] });
    if (!verdict.valid) throw new Error(verdict.problems.join("; "));
  });
  const chainCheckPrimitiveMs = await loop(input.primitiveLoops, () => {
    const [leaf, middle, top] = wire.map((der) => new X509Certificate(Buffer.from(der, "base64")));
    if (leaf === undefined || middle === undefined || top === undefined) throw new Error("chain");
    if (!leaf.subject.includes("CN=bench-floor-device")) throw new Error("CN");
    if (!leaf.publicKey.equals(device.publicKey)) throw new Error("key");
    const now = new Date();
    for (const certificate of [leaf, middle, top]) {
      if (new Date(certificate.validFrom) > now || new Date(certificate.validTo) < now)
        throw new Error("validity");
    }
    if (!middle.ca || !top.ca) throw new Error("not CAs");
    if (!leaf.checkIssued(middle) || !leaf.verify(middle.publicKey)) throw new Error("leaf");
    if (!middle.checkIssued(top) || !middle.verify(top.publicKey)) throw new Error("middle");
    if (!top.verify(top.publicKey)) throw new Error("root");
  });
  const createCsrMs = await loop(input.libraryLoops, () => createCsr("bench-floor-device", device));

  return {
    chainCheckMs,
    chainCheckPrimitiveMs,
    createCsrMs,
    tlsServerMs: tls.serverMs,
    tlsWallMs: tls.wallMs,
    tlsProtocol: tls.protocol,
    tlsCipher: tls.cipher,
    verifyPrimitiveMs,
    signPrimitiveMs,
    parseCsrMs,
    issueCertificateMs,
  };
}
