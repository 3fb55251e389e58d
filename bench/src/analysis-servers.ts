// "Where we lose, why, and what would fix it" for the server items: 3 (capacity against the crypto floor),
// 4 (telemetry against mosquitto) and 8 (memory). Every figure comes from the run's results; the causes named
// are the ones the bench measures (library call against primitive, CPU per process) or that a CPU profile of the
// simulator under the same load showed (named as such).
import { at, type Details, f, num } from "./analysis-values.ts";
import type { BenchResults } from "./results.ts";

export function explainCapacity(details: Details, results: BenchResults): string[] {
  const runs = Array.isArray(details.runs) ? (details.runs as Record<string, unknown>[]) : [];
  const floor = (details.floor ?? {}) as Record<string, unknown>;
  const floorPerSecond = num(floor.floorPerSecondOneCore);
  const floorMs = num(floor.floorMs);
  const cores = results.machine.cores;
  const described = runs
    .map((run) => {
      const perSecond = num(run.perSecond);
      const concurrency = num(run.concurrency);
      const p50 = num(at(run, "latencyMs", "p50"));
      const simBusy = (perSecond * num(run.simCpuMsPerRegistration)) / 10;
      const fleetBusy = (perSecond * num(run.clientCpuMsPerRegistration)) / 10;
      return `${f(perSecond, 1)}/s at concurrency ${f(concurrency)} (${f(perSecond / floorPerSecond, 2)}× the floor's rate; ${f(concurrency)} devices in flight with a p50 latency of ${f(p50)} ms allow ${f(concurrency / (p50 / 1000))}/s; the simulator was busy ${f(simBusy)} % of one core, the fleet ${f(fleetBusy)} %)`;
    })
    .join(", and ");
  const cpuBound = runs.some(
    (run) =>
      (num(run.perSecond) * Math.max(num(run.simCpuMsPerRegistration), num(run.clientCpuMsPerRegistration))) /
        10 >=
      85,
  );
  const first = runs[0] ?? {};
  const simCpu = num(first.simCpuMsPerRegistration);
  const clientCpu = num(first.clientCpuMsPerRegistration);
  const parseCsr = num(floor.parseCsrMs);
  const verify = num(floor.verifyPrimitiveMs);
  const issue = num(floor.issueCertificateMs);
  const sign = num(floor.signPrimitiveMs);
  const tls = num(floor.tlsServerMs);
  const rest = simCpu - tls - parseCsr - issue;
  const warmup = (first.warmup ?? {}) as Record<string, unknown>;
  const warmupCpu = num(warmup.simCpuMsPerRegistration);
  const warmupSentence = Number.isFinite(warmupCpu)
    ? `The first ${f(num(warmup.devices))} registrations after the simulator started, not counted above, cost ${f(warmupCpu, 2)} ms each (${f(warmupCpu / floorMs, 1)}× the floor): V8 compiling the code paths they take, on the main thread and on its background threads. `
    : "";
  return [
    `One core could do ${f(floorPerSecond)} registrations/s if only the crypto floor counted (${f(floorMs, 2)} ms: the server's side of the TLS handshake, one ECDSA P-384 verification and one signature, all node:crypto). The simulator did ${described}. The fleet runs on the same ${cores} cores, so both processes' CPU per registration counts: together ${f(simCpu + clientCpu, 1)} ms, which ${cores} fully available cores could serve ${f((cores * 1000) / (simCpu + clientCpu))} times a second.`,
    cpuBound
      ? `One of the two processes was busy nearly the whole run: its CPU per registration, below, is the limit.`
      : `Neither process was busy for the whole run, so the rate is set by the devices' latency, not by either process's own CPU: the devices queue for a CPU the two processes did not get. On a machine shared with other work (as during this run) that is the other work; rerun on a quiet machine to see the rate the CPU figures allow.`,
    `**The simulator's own work.** ${f(simCpu, 2)} ms of CPU per registration is ${f(simCpu / floorMs, 2)}× the floor. The library calls it makes for the cryptography are close to their primitives: \`parseCsr\` ${f(parseCsr, 2)} ms against ${f(verify, 2)} ms for the bare verification, \`issueCertificate\` ${f(issue, 2)} ms against ${f(sign, 2)} ms for the bare signature (both read and write the DER directly; the rest is loading the public key, the key identifier's SHA-1 and the PEM text). That leaves about ${f(rest, 1)} ms per registration outside the TLS handshake and these two calls. A CPU profile of the simulator under this load (\`node --cpu-prof\`, not part of this run) spreads it thinly: the MQTT exchange of each device (CONNECT, SUBSCRIBE, register, poll, the answers and their QoS 1 acknowledgements; the DPS endpoint has its own small MQTT 3.1.1 server on mqtt-packet, which in a trial run cost 0.2 to 0.4 ms less CPU per registration than aedes, a general broker), the signature and the verification themselves, which take longer amid the rest of the simulator's work (and the fleet's on the other core) than in the floor's tight loops, loading the CSR's public key (\`createPublicKey\`, which also checks the point is on the curve), the one SQLite transaction that stores all of a registration's rows (registration, hub device, twin, ADR device, issued certificate, audit events, operation) before it is answered, garbage collection, and the socket writes (one per connection per event-loop turn). The issued leaf's facts come from issuing it, not from parsing it again. ${warmupSentence}What would cut further: the packet-size guard and the WebSocket path as plain functions on the socket rather than stream layers; committing several registrations per event-loop turn made no measurable difference in a trial run at these concurrencies.`,
    `**The fleet.** ${f(clientCpu, 2)} ms of CPU per registration in the fleet process (${f(clientCpu / floorMs, 1)}× the floor), its keys and CSRs made beforehand: the client side of the TLS handshake (ECDHE and checking the server's chain), MQTT.js, and checking the issued chain (${f(num(floor.chainCheckMs), 2)} ms, against ${f(num(floor.chainCheckPrimitiveMs), 2)} ms for the same checks written directly on node:crypto's \`X509Certificate\`, which verify all three signatures every time; the library verifies the issuing CA's and the root's once per process for the same certificate bytes, and each new leaf every time). It does not verify again the CSRs it built itself, and reuses one TLS context for the trusted root. For a load test of the simulator alone, run the fleet on another machine.`,
  ];
}

export function explainTelemetry(details: Details): string[] {
  const ours = (details.ours ?? {}) as Record<string, unknown>;
  const base = (details.baseline ?? {}) as Record<string, unknown>;
  const devices = num(details.devices);
  const name = `mosquitto ${String(at(details, "mosquitto", "version") ?? "")}`;
  const perSecond = num(ours.perSecond);
  const basePerSecond = num(base.perSecond);
  const p50 = num(ours.ackP50Ms);
  const baseP50 = num(base.ackP50Ms);
  const simMs = num(ours.serverCpuMsPerMessage);
  const baseMs = num(base.serverCpuMsPerMessage);
  const simShare = num(ours.serverCoreSharePercent);
  const clientShare = num(ours.clientCoreSharePercent);
  const paragraphs = [
    `Each device waits for its PUBACK before it sends the next message, so throughput is at most ${f(devices)} devices ÷ the acknowledgement latency: ${f(devices)} ÷ ${f(p50, 1)} ms ≈ ${f(devices / (p50 / 1000))}/s for the simulator (measured ${f(perSecond)}/s), ${f(devices)} ÷ ${f(baseP50, 1)} ms ≈ ${f(devices / (baseP50 / 1000))}/s for ${name} (measured ${f(basePerSecond)}/s): ${f(perSecond / basePerSecond, 2)}× its rate. The latency is where the time goes.`,
    `Per message the simulator spends ${f(simMs, 3)} ms of CPU, ${name} ${f(baseMs, 3)} ms (${f(simMs / baseMs, 1)}×), and the simulator also stores every message in SQLite before its PUBACK, which mosquitto (no persistence, no subscriber) does not do at all. While the messages flowed the simulator was busy ${f(simShare)} % of one core and the client process, all ${f(devices)} official device clients, ${f(clientShare)} %.`,
  ];
  const baseClientShare = num(base.clientCoreSharePercent);
  if (simShare >= 85) {
    paragraphs.push(
      `The simulator's JavaScript thread is the limit: it is busy nearly the whole window, so its acknowledgement latency is mostly messages queueing for it. Its work per message is aedes parsing and routing the PUBLISH in JavaScript, the TLS record in and out through Node's streams, the property bag and JSON of the stored row, and the insert (the messages of one event-loop turn share one transaction). Fix: less JavaScript per message in the hub's PUBLISH path, or the hub in a worker thread so TLS and storage use the second core.`,
    );
  } else if (clientShare >= 80 || baseClientShare >= 80) {
    paragraphs.push(
      `The client process is close to its limit against both brokers (${f(clientShare)} % of one core against the simulator, ${f(baseClientShare)} % against mosquitto): the ${f(devices)} official device clients share one JavaScript thread, so this item measures the client nearly as much as the broker, and the two rates are closer than the brokers' own costs (the CPU per message rows). Fix: for a load test of the broker, run the devices in several processes or on another machine (\`skittle fleet\` runs them in one).`,
    );
  } else {
    paragraphs.push(
      `Neither process was busy the whole window, so the latency is not CPU queueing in either of them: on a machine shared with other work it is mostly waiting to be scheduled. Rerun on a quiet machine before drawing conclusions from the latency rows.`,
    );
  }
  return paragraphs;
}

export function explainMemory(details: Details): string[] {
  const sim = (details.simulator ?? {}) as Record<string, unknown>;
  const sorter = (details.sorter ?? {}) as Record<string, unknown>;
  const offline = num(sorter.offlineMiB);
  const online = num(sorter.telemetryMiB);
  const idle = num(sorter.idleMiB);
  const hubMqtt = num(sorter.hubMqttMiB);
  const plainNode = num(sorter.plainNodeMiB);
  const plainNodeHubMqtt = num(sorter.plainNodeHubMqttMiB);
  const flags = Array.isArray(sorter.nodeFlags) ? sorter.nodeFlags.join(" ") : "";
  return [
    `The simulator starts at ${f(num(sim.idleRssMiB))} MiB, holds ${f(num(sim.registeredRssMiB))} MiB after ${f(num(sim.registered) - num(sim.connected))} registrations with nothing connected, and peaks at ${f(num(sim.peakRssMiB))} MiB with ${f(num(sim.registered))} registered devices and ${f(num(sim.connected))} connected. Its state is in SQLite on disk, so what the registrations added (${f(((num(sim.registeredRssMiB) - num(sim.idleRssMiB)) * 1024) / (num(sim.registered) - num(sim.connected)), 1)} KiB each) is mostly V8's heap (SQLite's page cache stays within its default 2 MiB); this run does not say whether it is live or garbage V8 had no reason to collect yet; in a trial run (not part of this one) the simulator's live heap after a full garbage collection stayed at 23 MiB after 1,000, 2,000 and 3,000 CSR registrations, so the growth is garbage and the headroom V8 keeps, not state held per device. Part of the start figure is code: the simulator runs from TypeScript sources here, through the tsx loader (a loader thread, transpiled modules).`,
    `The sorter runs as \`skittle-sorter\` starts it, \`node ${flags}\`: a 1 MiB young generation instead of V8's 16 MiB semi-spaces, and no optimizing compiler (its compilations and optimized code), CPU the app does not need since it waits on servos and the network. It holds ${f(offline)} MiB sorting offline and ${f(online)} MiB with telemetry (${f(online - offline)} MiB more), against ${f(idle)} MiB for a Node.js process that loads nothing; through the package's own MQTT client ("hub-mqtt") instead of the official SDK, ${f(hubMqtt)} MiB. On plain \`node\` the same runs hold ${f(plainNode)} MiB and ${f(plainNodeHubMqtt)} MiB. What telemetry adds is mostly code, whose source text V8 keeps on its heap: the official \`azure-iot-device\` SDK and its dependencies with its own MQTT.js 4, the DPS client's MQTT.js 5, and SQLite for the outbox; a CSR is made and the issued chain checked with node:crypto, without @peculiar/x509, and the configuration is checked with valibot, much less code to load than zod. Part of any Node process's RSS is file-backed pages of the node binary that the run touches (TLS, crypto) and SQLite's native module. Fix: hub-mqtt (one MQTT.js, no SDK) where memory matters; below that, fewer dependencies loaded on a device: the DPS client on the MQTT.js the hub client already loads.`,
  ];
}
