import type { BenchResults } from "./results.ts";

/**
 * Per item: paragraphs for docs/benchmarks.md saying where we lose (slower than the baseline, or far from the
 * limit), why, and what would fix it. Every number comes from this run's results; the causes named were
 * measured by the bench itself (the TCP_NODELAY experiments, the library-vs-primitive rows).
 */
export function analyse(results: BenchResults): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const item of results.items) {
    if (item.status !== "ok") continue;
    const explain = EXPLAIN[item.id];
    const paragraphs = explain === undefined ? [] : explain(item.details, results);
    if (paragraphs.length > 0) out.set(item.id, paragraphs);
  }
  return out;
}

type Details = Record<string, unknown>;

const num = (value: unknown): number => (typeof value === "number" ? value : Number.NaN);
const at = (value: unknown, ...path: string[]): unknown => {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
};
const f = (value: number, digits = 0): string => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

const NODELAY_FIX =
  "Fix: create the simulator's TLS servers (DPS and IoT Hub, MQTT and WebSocket) with `noDelay: true`, or call `socket.setNoDelay(true)` on every accepted socket, so that small MQTT packets leave at once.";

const EXPLAIN: Record<number, (details: Details, results: BenchResults) => string[]> = {
  1(details) {
    const paragraphs: string[] = [];
    const retryAfter = num(details.retryAfterMs);
    const ours = num(at(details, "oursMs", "median")) - retryAfter;
    const official = num(at(details, "officialMs", "median")) - retryAfter;
    const oursFast = num(at(details, "noDelayExperiment", "oursMs", "median")) - retryAfter;
    const officialFast = num(at(details, "noDelayExperiment", "officialMs", "median")) - retryAfter;
    if (ours > official * 1.05) {
      paragraphs.push(
        `The official client needs ${f(official)} ms beyond the wait, ours ${f(ours)} ms. Both make the same protocol exchanges (TLS, CONNECT, SUBSCRIBE, register, one poll, DISCONNECT), so the difference is client-side work per registration; profile \`bench/src/items/provision-latency.client.ts\` with \`node --cpu-prof\` to find it.`,
      );
    }
    if (ours - oursFast > 20 && official - officialFast > 20) {
      paragraphs.push(
        `Both clients lose most of their time beyond the wait to the simulator, not to themselves: with TCP_NODELAY on the simulator's sockets it falls from ${f(ours)} to ${f(oursFast)} ms (ours) and from ${f(official)} to ${f(officialFast)} ms (official). The simulator's broker sends small MQTT packets in separate TCP segments (the PUBACK of a request, then the answer a moment later), and Nagle's algorithm holds a segment while an earlier one is unacknowledged, until the client's delayed ACK (up to 40 ms on Linux), on each request/answer exchange. ${NODELAY_FIX}`,
      );
    }
    return paragraphs;
  },

  2(details) {
    const p384 = details["ec-p384"];
    const rsa = details["rsa-2048"];
    const p384Total = num(at(p384, "totalMs"));
    const rsaTotal = num(at(rsa, "totalMs"));
    if (!(rsaTotal > p384Total * 1.1)) return [];
    const extra = rsaTotal - p384Total;
    const keyGenExtra = num(at(rsa, "keyGenMs")) - num(at(p384, "keyGenMs"));
    return [
      `RSA-2048 takes ${f(extra)} ms longer than EC P-384, ${f(keyGenExtra)} ms of it generating the key: RSA key generation searches for two random 1024-bit primes (OpenSSL under Node's \`generateKeyPair\`), so it is slow and varies from run to run; the rest is the larger CSR and the RSA signature. Fix: keep the default EC P-384 (the key type the preview API documents), or generate the next key ahead of time (e.g. while the device waits for the network or for renewal), so it is off the provisioning path.`,
    ];
  },

  3(details) {
    const runs = Array.isArray(details.runs) ? (details.runs as Record<string, unknown>[]) : [];
    const floor = (details.floor ?? {}) as Record<string, unknown>;
    const floorPerSecond = num(floor.floorPerSecondOneCore);
    const floorMs = num(floor.floorMs);
    const paragraphs: string[] = [];
    const described = runs
      .map((run) => {
        const perSecond = num(run.perSecond);
        const p50 = num(at(run, "latencyMs", "p50"));
        const concurrency = num(run.concurrency);
        return `${f(perSecond, 1)}/s at concurrency ${f(concurrency)} (${f((perSecond / floorPerSecond) * 100, 1)} % of it; a device's p50 latency ${f(p50)} ms, so ${f(concurrency)} devices in flight allow at most ${f(concurrency / (p50 / 1000), 1)}/s)`;
      })
      .join(", and ");
    const first = runs[0] ?? {};
    const simCpu = num(first.simCpuMsPerRegistration);
    const clientCpu = num(first.clientCpuMsPerRegistration);
    paragraphs.push(
      `One core could do ${f(floorPerSecond)} registrations/s if only the crypto floor counted (${f(floorMs, 2)} ms). The simulator did ${described}. Three things keep it far from that limit, each measured above.`,
      `**Waiting.** A device holds its slot for its whole latency: the simulator's 1 s \`retry-after\` between register and poll, the Nagle stalls described under item 1 on each exchange, and queueing for the CPU of the two busy processes below. Concurrency ÷ latency bounds the rate (the figures in brackets above), whatever the CPU could do. Fix: TCP_NODELAY on the simulator's sockets (item 1's experiment); the 1 s minimum \`retry-after\` is deliberate (real DPS sends one too), so a capacity test of the simulator itself can lower it with \`skittle fleet --max-retry-after-ms 0\`.`,
      `**The client is the busier process.** The fleet used ${f(clientCpu, 1)} ms of CPU per registration, the simulator ${f(simCpu, 1)} ms, on the same machine. Most of the client's share is @skittlesorter/dps-mqtt checking the issued chain (${f(num(floor.chainCheckMs), 1)} ms through @peculiar/x509's JavaScript ASN.1 parser, against ${f(num(floor.chainCheckPrimitiveMs), 1)} ms for the same checks with node:crypto's native \`X509Certificate\`) and @skittlesorter/csr creating the CSR (${f(num(floor.createCsrMs), 1)} ms against ${f(num(floor.signPrimitiveMs), 2)} ms for the signature itself). Fix: in @skittlesorter/csr, implement \`certificateFacts\` and \`verifyChain\` on node:crypto's \`X509Certificate\` (parse each certificate once; keep @peculiar/x509 only for building certificates and CSRs); for a load test of the simulator, run the fleet on another machine.`,
      `**The simulator's own work.** ${f(simCpu, 1)} ms of CPU per registration is ${f(simCpu / floorMs, 1)}× the floor. Verifying the CSR through \`parseCsr\` (@peculiar/x509 on WebCrypto) takes ${f(num(floor.parseCsrMs), 2)} ms against ${f(num(floor.verifyPrimitiveMs), 2)} ms for the bare ECDSA verification, and signing the leaf through \`issueCertificate\` ${f(num(floor.issueCertificateMs), 2)} ms against ${f(num(floor.signPrimitiveMs), 2)} ms, because it parses the issuing CA's certificate again on every call and builds the certificate through ASN.1 schema classes; the rest is MQTT and TLS handling and the database writes of each registration (operation, registration, issued certificate, ADR device, audit events). Fix: let \`issueCertificate\` take a pre-loaded issuer (parse the policy CA once per policy, not per device), verify CSR signatures with node:crypto once @peculiar/x509 has parsed them, and batch the audit writes.`,
    );
    return paragraphs;
  },

  4(details) {
    const perSecond = num(at(details, "telemetry", "perSecond"));
    const p50 = num(at(details, "telemetry", "ackLatencyMs", "p50"));
    const fastPerSecond = num(at(details, "noDelayExperiment", "telemetry", "perSecond"));
    const fastP50 = num(at(details, "noDelayExperiment", "telemetry", "ackLatencyMs", "p50"));
    const devices = num(details.devices);
    if (!(fastPerSecond > perSecond * 1.2)) return [];
    return [
      `Each device waits for its PUBACK before it sends the next message, so throughput is at most ${f(devices)} devices ÷ the acknowledgement latency: ${f(devices)} ÷ ${f(p50, 1)} ms ≈ ${f(devices / (p50 / 1000))}/s, close to the ${f(perSecond)}/s measured. That latency is mostly Nagle's algorithm on the simulator's hub sockets, not ingest work: with TCP_NODELAY the p50 falls to ${f(fastP50, 1)} ms and throughput rises to ${f(fastPerSecond)}/s, where the simulator's one core (TLS, MQTT parsing and one SQLite insert per message) becomes the limit. ${NODELAY_FIX}`,
    ];
  },

  5(details) {
    const paragraphs: string[] = [];
    const start = num(details.opensslStartMs);
    for (const keyType of ["ec-p384", "ec-p256", "rsa-2048"]) {
      const ours = num(at(details, keyType, "oursMs"));
      const openssl = num(at(details, keyType, "opensslMs"));
      if (!(ours > openssl * 1.05)) continue;
      paragraphs.push(
        keyType === "rsa-2048"
          ? `RSA-2048: ours ${f(ours, 1)} ms, openssl ${f(openssl, 1)} ms (of which about ${f(start, 1)} ms is starting the process). Both generate the key with OpenSSL (Node's \`generateKeyPair\` is OpenSSL underneath) and most of either figure is the random prime search; our RSA CSR is then built and signed by node-forge in JavaScript, where EC CSRs use @peculiar/x509 on WebCrypto. Fix: build RSA CSRs the way EC CSRs are built (@peculiar/x509 with WebCrypto's RSASSA-PKCS1-v1_5), so the signature runs natively.`
          : `${keyType}: ours ${f(ours, 2)} ms, openssl ${f(openssl, 2)} ms. The key generation is OpenSSL on both sides; ours then builds the CSR through @peculiar/x509's ASN.1 schema classes and WebCrypto. Fix: encode the CSR's fixed structure once and only sign per device.`,
      );
    }
    return paragraphs;
  },

  6(details) {
    const skittles = num(details.skittles);
    const configured = num(at(details, "slowServos", "configuredSecondsPer60Deg"));
    const slow = num(at(details, "slowServos", "rigSecondsPer60Deg"));
    const oursCorrect = num(at(details, "slowServos", "ours", "correct"));
    const fixedCorrect = num(at(details, "slowServos", "fixed", "correct"));
    const margin = num(at(details, "margin", "configuredSecondsPer60Deg"));
    const marginCorrect = num(at(details, "margin", "ours", "correct"));
    const marginPerMinute = num(at(details, "margin", "ours", "skittlesPerMinute"));
    const fixedPerMinute = num(at(details, "margin", "fixed", "skittlesPerMinute"));
    const oursPerMinute = num(at(details, "ours", "skittlesPerMinute"));
    const toHopperMs = num(at(details, "steps", "toHopperMs"));
    const pick = num(at(details, "model", "positions", "pick"));
    const drop = num(at(details, "model", "positions", "drop"));
    if (!(oursCorrect < fixedCorrect)) return [];
    const shortDeg = Math.abs(pick - drop) * (1 - configured / slow);
    return [
      `Derived waits have no margin. With servos ${f((slow / configured - 1) * 100)} % slower than the configuration says, the arm is sent back from the hopper after ${f(toHopperMs)} ms, about ${f(shortDeg, 1)}° before it gets there, so it never picks a skittle: ${f(oursCorrect)} of ${f(skittles)} sorted, where the fixed sleeps (1.5 to 7.5 times the modelled travel) sort ${f(fixedCorrect)}. The fixed cycle buys that tolerance with time. Fix: measure the servos' \`SecondsPer60Deg\` on the rig (the sorter's README asks for it) and configure it with a margin: at ${margin} s per 60° the same slow rig sorts ${f(marginCorrect)} of ${f(skittles)} correctly at ${f(marginPerMinute, 1)}/min (${f(marginPerMinute / fixedPerMinute, 2)}× the fixed sleeps, ${f((1 - marginPerMinute / oursPerMinute) * 100)} % below the no-margin figure). Better still, give the sorter a proportional travel margin setting (e.g. \`Hardware.TravelMargin\` 1.1, applied to every modelled wait) so the margin is explicit rather than a deliberately wrong speed.`,
    ];
  },
};
