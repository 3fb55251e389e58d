import { explainCapacity, explainMemory, explainTelemetry } from "./analysis-servers.ts";
import { at, type Details, f, num } from "./analysis-values.ts";
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

  3: explainCapacity,
  4: explainTelemetry,

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

  8: explainMemory,

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
