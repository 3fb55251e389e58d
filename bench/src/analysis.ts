import type { BenchResults } from "./results.ts";

/**
 * Per item: paragraphs for docs/benchmarks.md saying where we lose (slower than the baseline, or far from the
 * limit), why, and what would fix it. Every number comes from this run's results; the causes named were
 * measured by the bench itself (the library-vs-primitive rows, the CPU figures, the sorting experiments).
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

const EXPLAIN: Record<number, (details: Details, results: BenchResults) => string[]> = {
  1(details) {
    const paragraphs: string[] = [];
    const retryAfter = num(details.retryAfterMs);
    const ours = num(at(details, "oursMs", "median")) - retryAfter;
    const official = num(at(details, "officialMs", "median")) - retryAfter;
    if (ours > official * 1.05) {
      paragraphs.push(
        `The official client needs ${f(official)} ms beyond the wait, ours ${f(ours)} ms. Both make the same protocol exchanges (TLS, CONNECT, SUBSCRIBE, register, one poll, DISCONNECT), so the difference is client-side work per registration; profile \`bench/src/items/provision-latency.client.ts\` with \`node --cpu-prof\` to find it.`,
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

  3(details, results) {
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
      `**Waiting.** A device holds its slot for its whole latency: the simulator's 1 s \`retry-after\` between register and poll, and queueing for the CPU of the two busy processes below (a device's p50 latency beyond the 1 s wait is ${f(num(at(first, "latencyMs", "p50")) - 1000)} ms at concurrency ${f(num(first.concurrency))}, where one device alone needs ${f(num(at(results.items.find((item) => item.id === 2)?.details, "ec-p384", "totalMs")) - 1000)} ms beyond it for its key, CSR and provisioning, item 2). Concurrency ÷ latency bounds the rate (the figures in brackets above), whatever the CPU could do. Fix: the 1 s minimum \`retry-after\` is deliberate (real DPS sends one too), so a capacity test of the simulator itself can lower it with \`skittle fleet --max-retry-after-ms 0\`; the queueing shrinks with the CPU fixes below.`,
      `**The client is the busier process.** The fleet used ${f(clientCpu, 1)} ms of CPU per registration, the simulator ${f(simCpu, 1)} ms, on the same machine. Most of the client's share is @skittlesorter/dps-mqtt checking the issued chain (${f(num(floor.chainCheckMs), 1)} ms through @peculiar/x509's JavaScript ASN.1 parser, against ${f(num(floor.chainCheckPrimitiveMs), 1)} ms for the same checks with node:crypto's native \`X509Certificate\`) and @skittlesorter/csr creating the CSR (${f(num(floor.createCsrMs), 1)} ms against ${f(num(floor.signPrimitiveMs), 2)} ms for the signature itself). Fix: in @skittlesorter/csr, implement \`certificateFacts\` and \`verifyChain\` on node:crypto's \`X509Certificate\` (parse each certificate once; keep @peculiar/x509 only for building certificates and CSRs); for a load test of the simulator, run the fleet on another machine.`,
      `**The simulator's own work.** ${f(simCpu, 1)} ms of CPU per registration is ${f(simCpu / floorMs, 1)}× the floor. Verifying the CSR through \`parseCsr\` (@peculiar/x509 on WebCrypto) takes ${f(num(floor.parseCsrMs), 2)} ms against ${f(num(floor.verifyPrimitiveMs), 2)} ms for the bare ECDSA verification, and signing the leaf through \`issueCertificate\` ${f(num(floor.issueCertificateMs), 2)} ms against ${f(num(floor.signPrimitiveMs), 2)} ms, because it parses the issuing CA's certificate again on every call and builds the certificate through ASN.1 schema classes; the rest is MQTT and TLS handling and the database writes of each registration (operation, registration, issued certificate, ADR device, audit events). Fix: let \`issueCertificate\` take a pre-loaded issuer (parse the policy CA once per policy, not per device), verify CSR signatures with node:crypto once @peculiar/x509 has parsed them, and batch the audit writes.`,
    );
    return paragraphs;
  },

  4(details, results) {
    const perSecond = num(at(details, "telemetry", "perSecond"));
    const p50 = num(at(details, "telemetry", "ackLatencyMs", "p50"));
    const devices = num(details.devices);
    const simMs = num(at(details, "simCpu", "msPerMessage"));
    const simShare = num(at(details, "simCpu", "coreSharePercent"));
    const clientMs = num(at(details, "clientCpu", "msPerMessage"));
    const clientShare = num(at(details, "clientCpu", "coreSharePercent"));
    const bound = devices / (p50 / 1000);
    const paragraphs = [
      `Each device waits for its PUBACK before it sends the next message, so throughput is at most ${f(devices)} devices ÷ the acknowledgement latency: ${f(devices)} ÷ ${f(p50, 1)} ms ≈ ${f(bound)}/s, close to the ${f(perSecond)}/s measured. While the messages flowed, the simulator used ${f(simMs, 3)} ms of CPU per message (${f(simShare)} % of one core) and the client process, all ${f(devices)} official device clients, ${f(clientMs, 3)} ms (${f(clientShare)} % of one core), on a machine with ${f(results.machine.cores)} cores.`,
    ];
    if (simShare >= 85) {
      paragraphs.push(
        `The simulator's JavaScript thread is the limit: it is busy nearly the whole window, so the acknowledgement latency is mostly messages queueing for it. A CPU profile of the simulator under this load (\`node --cpu-prof\` on the simulator while \`skittle fleet --telemetry 200\` runs; not part of this run) puts nearly half of its time in \`Store.addTelemetry\`: one SQLite insert per message in its own transaction (the store now prepares each statement once; that profile predates it and cut the simulator's CPU per message by about an eighth); about a quarter goes to writing each PUBACK through TLS as its own record and send; aedes' MQTT parsing and routing is a small share. Fix: in the simulator's store, insert the messages that arrive in one event-loop turn in one transaction before their PUBACKs go out (each message is still stored before it is acknowledged).`,
      );
    } else if (clientShare >= 85) {
      paragraphs.push(
        `The client process is the limit, not the simulator: the ${f(devices)} official device clients share one JavaScript thread, busy nearly the whole window, so the acknowledgement latency is mostly messages queueing for it. Fix: for a load test of the simulator, run the devices in several processes or on another machine (\`skittle fleet\` runs them in one).`,
      );
    }
    return paragraphs;
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
    const margin = num(at(details, "model", "travelMarginPercent"));
    const configured = num(at(details, "slowServos", "configuredSecondsPer60Deg"));
    const slow = num(at(details, "slowServos", "rigSecondsPer60Deg"));
    const slowCorrect = num(at(details, "slowServos", "ours", "correct"));
    const slowNoMarginCorrect = num(at(details, "slowServos", "oursNoMargin", "correct"));
    const oursTolerance = num(at(details, "tolerance", "oursPercent"));
    const noMarginTolerance = num(at(details, "tolerance", "oursNoMarginPercent"));
    const fixedTolerance = num(at(details, "tolerance", "fixedPercent"));
    const failure = at(details, "tolerance", "ours", "firstFailure");
    const fixedFailure = at(details, "tolerance", "fixed", "firstFailure");
    const oursPerMinute = num(at(details, "ours", "skittlesPerMinute"));
    const noMarginPerMinute = num(at(details, "noMargin", "skittlesPerMinute"));
    const fixedPerMinute = num(at(details, "fixed", "skittlesPerMinute"));
    const matchedMargin = num(at(details, "matched", "marginPercent"));
    const matchedPerMinute = num(at(details, "matched", "ours", "skittlesPerMinute"));
    const matchedTolerance = num(at(details, "matched", "tolerancePercent"));
    const toHopperMs = num(at(details, "waits", "toHopperMs"));
    if (!(oursTolerance < fixedTolerance)) return [];
    const beyond =
      failure === undefined || failure === null
        ? ""
        : num(at(failure, "fed")) === 0
          ? ` One step further (${f(num(at(failure, "percent")))} %) the arm turns back from the hopper (after ${f(toHopperMs)} ms for its 160°) before it gets there, so nothing is picked at all.`
          : ` One step further (${f(num(at(failure, "percent")))} %) ${f(num(at(failure, "misplaced")))} of ${f(num(at(failure, "sorted")))} sorted skittles land in the wrong bin.`;
    const fixedBeyond =
      fixedFailure === undefined || fixedFailure === null
        ? ""
        : ` (at ${f(num(at(fixedFailure, "percent")))} % it misplaces ${f(num(at(fixedFailure, "misplaced")))} of ${f(num(at(fixedFailure, "sorted")))})`;
    return [
      `Derived waits tolerate less slow servos than fixed sleeps. With the default \`Hardware.TravelMarginPercent\` ${f(margin)}, ours sorts every skittle correctly on servos up to ${f(oursTolerance)} % slower than configured; the fixed sleeps, 1.5 to 7.5 times the modelled travel, up to ${f(fixedTolerance)} %${fixedBeyond}.${beyond} Without the margin ours tolerates ${f(noMarginTolerance)} %: servos ${f((slow / configured - 1) * 100)} % slower than configured sort ${f(slowNoMarginCorrect)} of ${f(skittles)} correctly, ${f(slowCorrect)} with it. The margin costs ${f((1 - oursPerMinute / noMarginPerMinute) * 100)} % of the throughput (${f(oursPerMinute, 1)}/min against ${f(noMarginPerMinute, 1)}/min without it); the fixed cycle buys its tolerance with far more time (${f(fixedPerMinute, 1)}/min).`,
      `Fix: measure the servos' speed on the rig, at its supply voltage and under load, configure it as \`SecondsPer60Deg\`, and raise \`Hardware.TravelMarginPercent\` where the speed varies more than the default allows (a sagging supply, wear). A margin as large as the fixed sleeps' tolerance (${f(matchedMargin)} %) tolerates ${f(matchedTolerance)} % slower servos and still sorts ${f(matchedPerMinute, 1)}/min, ${f(matchedPerMinute / fixedPerMinute, 2)}× the fixed sleeps. Only feedback would remove the trade-off: servos that report their position, or a sensor at the hopper, could confirm arrival instead of the loop assuming it.`,
    ];
  },
};
