import { join } from "node:path";
import { processRssMiB, runClient, type SimProcess, startSimProcess } from "../processes.ts";
import type { BenchContext, BenchItem, Row } from "../results.ts";
import { median, ratio, round } from "../stats.ts";
import type { Input as FloorInput, Output as FloorOutput } from "./crypto-floor.client.ts";
import type { Input as FleetInput, Output as FleetOutput } from "./fleet.client.ts";

interface CapacityRun {
  concurrency: number;
  devices: number;
  perSecond: number;
  succeeded: number;
  failed: number;
  errors: number;
  retries: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number } | null;
  simIdleRssMiB: number | null;
  simPeakRssMiB: number | null;
  simCpuMsPerRegistration: number | null;
  /** The same over the warm-up registrations before the measured ones, on the freshly started simulator. */
  warmup: { devices: number; simCpuMsPerRegistration: number | null };
  clientCpuMsPerRegistration: number | null;
  /** Mean key generation + CSR creation per device, made before provisioning started. */
  keyAndCsrMs: number | null;
  durationMs: number;
  /** How many runs this one is the median of (errors, failures and retries are their sums). */
  repeats: number;
}

const simCpuPerRegistration = (output: FleetOutput): number | null => {
  const succeeded = output.report.provisioning.succeeded;
  const simCpuMs = output.provisionWindow?.simCpuMs;
  return simCpuMs == null || succeeded === 0 ? null : round(simCpuMs / succeeded, 2);
};

async function capacityRun(
  context: BenchContext,
  concurrency: number,
  devices: number,
  warmupDevices: number,
  repeat: number,
): Promise<{ run: CapacityRun; sim: SimProcess }> {
  const sim = await startSimProcess({
    dataDir: join(context.workDir, `sim-c${concurrency}-r${repeat}`),
    assignmentDelayMs: 0,
  });
  const group = sim.config.enrollmentGroups[0];
  if (group?.primaryKey === undefined) throw new Error("the simulator has no symmetric-key group");
  // Let the freshly started simulator settle before reading its idle RSS.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const simIdleRssMiB = processRssMiB(sim.pid);
  let simPeakRssMiB = simIdleRssMiB;
  const sampler = setInterval(() => {
    const rss = processRssMiB(sim.pid);
    if (rss !== null && (simPeakRssMiB === null || rss > simPeakRssMiB)) simPeakRssMiB = rss;
  }, 100);
  const input: FleetInput = {
    host: sim.config.dps.host,
    port: sim.config.dps.port,
    idScope: sim.config.idScope,
    groupKey: group.primaryKey,
    caFile: sim.config.trustedCaFile,
    devices,
    concurrency,
    prefix: `bench-cap-c${concurrency}-r${repeat}-`,
    csrKeyType: "ec-p384",
    // Measure the server: keys and CSRs are made before provisioning starts, and the simulator's 1 s
    // retry-after is not waited for.
    pregenerateCsrs: true,
    minRetryAfterMs: 0,
    maxRetryAfterMs: 0,
    telemetry: 0,
    timeoutMs: 300_000,
    simPid: sim.pid,
  };
  let output: FleetOutput;
  let warmup: FleetOutput;
  try {
    // The crypto floor is measured warm (after discarded runs), so is the simulator: a first round of
    // registrations compiles its code paths and is reported on its own row.
    const fleet = (fleetInput: FleetInput) =>
      runClient<FleetOutput>("fleet.client.ts", fleetInput, { workDir: context.workDir, timeoutMs: 400_000 });
    warmup = await fleet({ ...input, devices: warmupDevices, prefix: `${input.prefix}warmup-` });
    output = await fleet(input);
  } finally {
    clearInterval(sampler);
  }
  const { report, provisionWindow } = output;
  const succeeded = report.provisioning.succeeded;
  const latency = report.provisioning.latencyMs;
  return {
    sim,
    run: {
      concurrency,
      devices,
      perSecond: report.provisioning.perSecond,
      succeeded,
      failed: report.provisioning.failed,
      errors: report.errors.reduce((total, group) => total + group.count, 0),
      retries: report.retries,
      latencyMs:
        latency === null ? null : { p50: latency.p50, p90: latency.p90, p99: latency.p99, max: latency.max },
      simIdleRssMiB: simIdleRssMiB === null ? null : round(simIdleRssMiB, 1),
      simPeakRssMiB: simPeakRssMiB === null ? null : round(simPeakRssMiB, 1),
      simCpuMsPerRegistration: simCpuPerRegistration(output),
      warmup: { devices: warmupDevices, simCpuMsPerRegistration: simCpuPerRegistration(warmup) },
      clientCpuMsPerRegistration:
        provisionWindow === null || succeeded === 0
          ? null
          : round(provisionWindow.clientCpuMs / succeeded, 2),
      keyAndCsrMs:
        report.provisioning.keyGenMs === null || report.provisioning.csrMs === null
          ? null
          : round(report.provisioning.keyGenMs.mean + report.provisioning.csrMs.mean, 2),
      durationMs: report.provisioning.durationMs,
      repeats: 1,
    },
  };
}

/** Each figure the median of the runs' (the RSS peak their highest); errors, failures and retries summed. */
function medianRun(runs: readonly CapacityRun[]): CapacityRun {
  const first = runs[0];
  if (first === undefined) throw new Error("no capacity runs");
  const mid = (pick: (run: CapacityRun) => number | null | undefined): number | null => {
    const values = runs.map(pick).filter((value): value is number => typeof value === "number");
    return values.length === 0 ? null : round(median(values), 2);
  };
  const sum = (pick: (run: CapacityRun) => number): number =>
    runs.reduce((total, run) => total + pick(run), 0);
  const peaks = runs.map((run) => run.simPeakRssMiB).filter((value): value is number => value !== null);
  const latencies = runs.map((run) => run.latencyMs);
  return {
    concurrency: first.concurrency,
    devices: first.devices,
    perSecond: mid((run) => run.perSecond) ?? 0,
    succeeded: sum((run) => run.succeeded),
    failed: sum((run) => run.failed),
    errors: sum((run) => run.errors),
    retries: sum((run) => run.retries),
    latencyMs: latencies.every((latency) => latency !== null)
      ? {
          p50: mid((run) => run.latencyMs?.p50) ?? 0,
          p90: mid((run) => run.latencyMs?.p90) ?? 0,
          p99: mid((run) => run.latencyMs?.p99) ?? 0,
          max: mid((run) => run.latencyMs?.max) ?? 0,
        }
      : null,
    simIdleRssMiB: mid((run) => run.simIdleRssMiB),
    simPeakRssMiB: peaks.length === 0 ? null : Math.max(...peaks),
    simCpuMsPerRegistration: mid((run) => run.simCpuMsPerRegistration),
    warmup: {
      devices: first.warmup.devices,
      simCpuMsPerRegistration: mid((run) => run.warmup.simCpuMsPerRegistration),
    },
    clientCpuMsPerRegistration: mid((run) => run.clientCpuMsPerRegistration),
    keyAndCsrMs: mid((run) => run.keyAndCsrMs),
    durationMs: mid((run) => run.durationMs) ?? 0,
    repeats: runs.length,
  };
}

const floorTotalMs = (floor: FloorOutput): number =>
  floor.tlsServerMs + floor.verifyPrimitiveMs + floor.signPrimitiveMs;

/** The crypto floor, in a client process of its own, with the TLS material of `sim` (closed by then). */
async function cryptoFloor(context: BenchContext, sim: SimProcess): Promise<FloorOutput> {
  context.log("  crypto floor: TLS handshake, CSR verification, leaf signing in tight loops");
  const tlsDir = join(sim.config.dataDir, "pki", "tls");
  const input: FloorInput = {
    serverCertFile: join(tlsDir, "server.pem"),
    serverKeyFile: join(tlsDir, "server.key"),
    caFile: sim.config.trustedCaFile,
    handshakes: context.quick ? 100 : 400,
    libraryLoops: context.quick ? 50 : 300,
    primitiveLoops: context.quick ? 200 : 2000,
  };
  return runClient<FloorOutput>("crypto-floor.client.ts", input, {
    workDir: context.workDir,
    timeoutMs: 180_000,
  });
}

export const capacity: BenchItem = {
  id: 3,
  title: "Simulator capacity with CSR (EC P-384), and the crypto floor of one registration",
  async run(context) {
    const devices = context.quick ? 100 : 1000;
    // The first registrations after start pay for V8 compiling their code paths (the warm-up row); the floor is
    // measured warm, in tight loops, so the simulator is too: as many registrations again before the measured ones.
    const warmupDevices = devices;
    const repeats = context.quick ? 1 : 3;
    const concurrencies = [50, 200];
    const repeated = new Map<number, CapacityRun[]>(concurrencies.map((concurrency) => [concurrency, []]));
    const floors: FloorOutput[] = [];
    for (let repeat = 1; repeat <= repeats; repeat++) {
      for (const concurrency of concurrencies) {
        context.log(
          `  ${devices} devices with CSR, concurrency ${concurrency} (skittle fleet's runFleet), run ${repeat}/${repeats}`,
        );
        const { run, sim } = await capacityRun(context, concurrency, devices, warmupDevices, repeat);
        try {
          repeated.get(concurrency)?.push(run);
          if (concurrency === concurrencies[0]) {
            await sim.close(); // the floor is measured on an idle machine
            floors.push(await cryptoFloor(context, sim));
          }
        } finally {
          await sim.close();
        }
      }
    }
    const runs = concurrencies.map((concurrency) => medianRun(repeated.get(concurrency) ?? []));
    // The floor run whose total is the median: its parts add up to the figure used.
    const floor = [...floors].sort((a, b) => floorTotalMs(a) - floorTotalMs(b))[
      Math.floor(floors.length / 2)
    ];
    if (floor === undefined) throw new Error("the crypto floor was not measured");
    const floorMs = floorTotalMs(floor);
    const implementedMs = floor.tlsServerMs + floor.parseCsrMs + floor.issueCertificateMs;
    // The simulator is one Node.js process: its TLS, CSR checks and signing run on one core.
    const floorPerSecond = 1000 / floorMs;
    const rows: Row[] = [];
    for (const run of runs) {
      rows.push(
        {
          measure: `registrations/s, ${run.devices} devices, concurrency ${run.concurrency}`,
          unit: "/s",
          ours: run.perSecond,
          baselineName: "crypto floor, 1 core",
          baseline: round(floorPerSecond, 1),
          ratio: ratio(run.perSecond, floorPerSecond),
          better: "higher",
        },
        {
          measure: `  errors (of ${run.devices * run.repeats}${run.repeats > 1 ? `, ${run.repeats} runs` : ""})`,
          unit: "",
          ours: run.errors,
          better: "lower",
        },
        { measure: "  retries", unit: "", ours: run.retries, better: "lower" },
        { measure: "  latency p50", unit: "ms", ours: run.latencyMs?.p50 ?? null, better: "lower" },
        { measure: "  latency p99", unit: "ms", ours: run.latencyMs?.p99 ?? null, better: "lower" },
        {
          measure: "  simulator CPU per registration",
          unit: "ms",
          ours: run.simCpuMsPerRegistration,
          baselineName: "crypto floor",
          baseline: round(floorMs, 2),
          ratio: ratio(run.simCpuMsPerRegistration, floorMs),
          better: "lower",
        },
        {
          measure: `  simulator CPU per registration, its first ${run.warmup.devices} after start (warm-up, not counted above)`,
          unit: "ms",
          ours: run.warmup.simCpuMsPerRegistration,
          baselineName: "crypto floor",
          baseline: round(floorMs, 2),
          ratio: ratio(run.warmup.simCpuMsPerRegistration, floorMs),
          better: "lower",
        },
        {
          measure: "  fleet client CPU per registration",
          unit: "ms",
          ours: run.clientCpuMsPerRegistration,
          baselineName: "crypto floor",
          baseline: round(floorMs, 2),
          ratio: ratio(run.clientCpuMsPerRegistration, floorMs),
          better: "lower",
        },
        {
          measure: "  fleet key + CSR per device (made beforehand)",
          unit: "ms",
          ours: run.keyAndCsrMs,
          better: "lower",
        },
        { measure: "  simulator RSS, peak", unit: "MiB", ours: run.simPeakRssMiB, better: "lower" },
      );
    }
    rows.push(
      {
        measure: "crypto floor: TLS handshake, server side",
        unit: "ms",
        ours: round(floor.tlsServerMs, 3),
        better: "lower",
      },
      {
        measure: "crypto floor: CSR verification (ECDSA P-384)",
        unit: "ms",
        ours: round(floor.parseCsrMs, 3),
        baselineName: "node:crypto verify",
        baseline: round(floor.verifyPrimitiveMs, 3),
        ratio: ratio(floor.parseCsrMs, floor.verifyPrimitiveMs),
        better: "lower",
      },
      {
        measure: "crypto floor: leaf signing (ECDSA P-384)",
        unit: "ms",
        ours: round(floor.issueCertificateMs, 3),
        baselineName: "node:crypto sign",
        baseline: round(floor.signPrimitiveMs, 3),
        ratio: ratio(floor.issueCertificateMs, floor.signPrimitiveMs),
        better: "lower",
      },
      {
        measure: "fleet client: issued-chain check (3 certificates)",
        unit: "ms",
        ours: round(floor.chainCheckMs, 3),
        baselineName: "node:crypto X509Certificate",
        baseline: round(floor.chainCheckPrimitiveMs, 3),
        ratio: ratio(floor.chainCheckMs, floor.chainCheckPrimitiveMs),
        better: "lower",
      },
      {
        measure: "fleet client: CSR creation (P-384)",
        unit: "ms",
        ours: round(floor.createCsrMs, 3),
        baselineName: "node:crypto sign",
        baseline: round(floor.signPrimitiveMs, 3),
        ratio: ratio(floor.createCsrMs, floor.signPrimitiveMs),
        better: "lower",
      },
    );
    return {
      status: "ok",
      rows,
      details: {
        runs,
        floor: {
          ...Object.fromEntries(
            Object.entries(floor).map(([key, value]) => [
              key,
              typeof value === "number" ? round(value, 4) : value,
            ]),
          ),
          floorMs: round(floorMs, 3),
          floorPerSecondOneCore: round(floorPerSecond, 1),
          asImplementedMs: round(implementedMs, 3),
          asImplementedPerSecondOneCore: round(1000 / implementedMs, 1),
        },
      },
      notes: [
        `Each concurrency runs ${repeats === 1 ? "once" : `${repeats} times`}, ${repeats === 1 ? "" : "the two concurrencies taking turns, "}each time against a freshly started simulator process, warmed up with ${warmupDevices} registrations (as the crypto floor is measured after discarded runs; their own figure is the "warm-up" row: the code paths being compiled), then measured with ${devices}; the fleet (\`runFleet\`, the core of \`skittle fleet\`) runs in a second process on the same machine. So that the item measures the server, the fleet makes every device's EC P-384 key and CSR before provisioning starts (\`pregenerateCsrs\`; their mean cost is the "key + CSR" row) and does not wait out the simulator's 1 s \`retry-after\` (\`minRetryAfterMs\`/\`maxRetryAfterMs\` 0, \`skittle fleet --max-retry-after-ms 0\`): registrations/s and both processes' CPU cover the provisioning phase alone. CPU comes from /proc for the simulator and \`process.cpuUsage\` for the fleet (user + system, all threads); the simulator's RSS is sampled every 100 ms.${repeats === 1 ? "" : ` The table shows each figure's median over the ${repeats} runs (errors and retries summed over them, the RSS peak the highest); the crypto floor is measured ${repeats} times too, on the idle machine after each round's first run, and the table uses the measurement whose total is the median. On a shared 2-core machine single runs of this item vary by about ±10 %.`}`,
        `Crypto floor: the server's share of one ${floor.tlsProtocol} handshake with the simulator's own certificate (${floor.tlsCipher}; main-thread busy time, the client in a worker thread), one ECDSA P-384/SHA-384 verification and one signature with node:crypto (CPU time per call, over a tight loop): ${round(floorMs, 2)} ms, so one core can do at most ${round(floorPerSecond, 0)} registrations/s. The library calls the simulator makes for the same work (\`parseCsr\`, \`issueCertificate\` from @skittlesorter/csr) take ${round(implementedMs, 2)} ms (${round(1000 / implementedMs, 0)}/s).`,
      ],
    };
  },
};
