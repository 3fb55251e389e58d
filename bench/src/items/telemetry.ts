import { join } from "node:path";
import { findMosquitto, startMosquitto } from "../mosquitto.ts";
import { runClient, startSimProcess } from "../processes.ts";
import type { BenchItem, Row } from "../results.ts";
import { median, ratio, round } from "../stats.ts";
import type { Input as FleetInput, Output as FleetOutput } from "./fleet.client.ts";

const DEVICES = 100;

/** One fleet run's telemetry figures, against one broker. */
interface Side {
  perSecond: number;
  ackP50Ms: number | null;
  ackP99Ms: number | null;
  errors: number;
  attempted: number;
  serverCpuMsPerMessage: number | null;
  serverCoreSharePercent: number | null;
  clientCpuMsPerMessage: number | null;
  clientCoreSharePercent: number | null;
}

function side(output: FleetOutput): Side {
  const t = output.report.telemetry;
  if (t === null) throw new Error("the fleet run sent no telemetry");
  const window = output.telemetryWindow;
  const perMessage = (cpuMs: number | null | undefined): number | null =>
    window === null || cpuMs == null || window.messages === 0 ? null : round(cpuMs / window.messages, 4);
  const coreShare = (cpuMs: number | null | undefined): number | null =>
    window === null || cpuMs == null || window.wallMs <= 0 ? null : round((cpuMs / window.wallMs) * 100, 1);
  return {
    perSecond: t.perSecond,
    ackP50Ms: t.ackLatencyMs?.p50 ?? null,
    ackP99Ms: t.ackLatencyMs?.p99 ?? null,
    errors: output.report.errors.reduce((total, group) => total + group.count, 0),
    attempted: t.attempted,
    serverCpuMsPerMessage: perMessage(window?.simCpuMs),
    serverCoreSharePercent: coreShare(window?.simCpuMs),
    clientCpuMsPerMessage: perMessage(window?.clientCpuMs),
    clientCoreSharePercent: coreShare(window?.clientCpuMs),
  };
}

/** The median of each figure over the runs (a figure missing from any run is null). */
function medianSide(runs: readonly Side[]): Side {
  const of = (key: keyof Side): number | null => {
    const values = runs.map((run) => run[key]);
    return values.some((value) => value === null) ? null : round(median(values as number[]), 4);
  };
  return {
    perSecond: of("perSecond") ?? 0,
    ackP50Ms: of("ackP50Ms"),
    ackP99Ms: of("ackP99Ms"),
    errors: runs.reduce((total, run) => total + run.errors, 0),
    attempted: runs.reduce((total, run) => total + run.attempted, 0),
    serverCpuMsPerMessage: of("serverCpuMsPerMessage"),
    serverCoreSharePercent: of("serverCoreSharePercent"),
    clientCpuMsPerMessage: of("clientCpuMsPerMessage"),
    clientCoreSharePercent: of("clientCoreSharePercent"),
  };
}

export const telemetry: BenchItem = {
  id: 4,
  title: "Telemetry ingest: QoS 1 messages per second from 100 connected devices, against mosquitto",
  async run(context) {
    const messages = context.quick ? 5 : 50;
    const rounds = context.quick ? 1 : 3;
    const mosquitto = findMosquitto(context.log);
    const sim = await startSimProcess({ dataDir: join(context.workDir, "sim"), assignmentDelayMs: 0 });
    const tlsDir = join(sim.config.dataDir, "pki", "tls");
    const broker = await startMosquitto({
      binary: mosquitto.path,
      dir: context.workDir,
      certFile: join(tlsDir, "server.pem"),
      keyFile: join(tlsDir, "server.key"),
      clientCaFile: sim.config.adr.rootCaFile,
    }).catch(async (error: unknown) => {
      await sim.close();
      throw error;
    });
    const ours: Side[] = [];
    const baseline: Side[] = [];
    try {
      const group = sim.config.enrollmentGroups[0];
      if (group?.primaryKey === undefined) throw new Error("the simulator has no symmetric-key group");
      const fleet = (name: string, broker?: { port: number; pid: number }): Promise<FleetOutput> => {
        const input: FleetInput = {
          host: sim.config.dps.host,
          port: sim.config.dps.port,
          idScope: sim.config.idScope,
          groupKey: group.primaryKey as string,
          caFile: sim.config.trustedCaFile,
          devices: DEVICES,
          concurrency: DEVICES,
          prefix: `bench-telemetry-${name}-`,
          csrKeyType: "ec-p384",
          minRetryAfterMs: 0,
          maxRetryAfterMs: 0,
          telemetry: messages,
          timeoutMs: 300_000,
          simPid: broker?.pid ?? sim.pid,
          ...(broker === undefined ? {} : { hubPortOverride: broker.port }),
        };
        return runClient<FleetOutput>("fleet.client.ts", input, {
          workDir: context.workDir,
          timeoutMs: 400_000,
        });
      };
      for (let round = 0; round < rounds; round += 1) {
        context.log(`  round ${round + 1}/${rounds}: ${DEVICES} devices × ${messages} messages, simulator`);
        ours.push(side(await fleet(`sim${round}`)));
        context.log(`  round ${round + 1}/${rounds}: the same stream, mosquitto ${mosquitto.version}`);
        baseline.push(side(await fleet(`mosquitto${round}`, broker)));
      }
    } finally {
      await broker.close();
      await sim.close();
    }
    const a = medianSide(ours);
    const b = medianSide(baseline);
    const name = `mosquitto ${mosquitto.version}`;
    const pair = (
      measure: string,
      unit: string,
      x: number | null,
      y: number | null,
      better: Row["better"],
    ): Row => ({ measure, unit, ours: x, baselineName: name, baseline: y, ratio: ratio(x, y), better });
    const rows: Row[] = [
      pair(`messages/s (QoS 1), ${DEVICES} devices connected`, "/s", a.perSecond, b.perSecond, "higher"),
      pair("  acknowledgement latency p50", "ms", a.ackP50Ms, b.ackP50Ms, "lower"),
      pair("  acknowledgement latency p99", "ms", a.ackP99Ms, b.ackP99Ms, "lower"),
      pair(`  errors (of ${a.attempted} messages)`, "", a.errors, b.errors, "lower"),
      pair("  server CPU per message", "ms", a.serverCpuMsPerMessage, b.serverCpuMsPerMessage, "lower"),
      pair(
        "  server CPU, share of one core",
        "%",
        a.serverCoreSharePercent,
        b.serverCoreSharePercent,
        "lower",
      ),
      pair("  client CPU per message", "ms", a.clientCpuMsPerMessage, b.clientCpuMsPerMessage, "lower"),
      pair(
        "  client CPU, share of one core",
        "%",
        a.clientCoreSharePercent,
        b.clientCoreSharePercent,
        "lower",
      ),
    ];
    return {
      status: "ok",
      rows,
      details: {
        devices: DEVICES,
        messagesPerDevice: messages,
        rounds,
        mosquitto,
        ours: a,
        baseline: b,
        runs: { ours, baseline },
      },
      notes: [
        `${DEVICES} devices are provisioned with EC P-384 CSRs and all connected with their issued certificates through the official \`azure-iot-device\` + \`azure-iot-device-mqtt\` client (the fleet's telemetry path); then each sends ${messages} JSON messages one after another, each awaited until the broker's PUBACK (QoS 1), so at most ${DEVICES} messages are in flight. The simulator writes every message to SQLite before it acknowledges it (the messages of one event-loop turn in one transaction).`,
        `Baseline: the same fleet, the same official clients, certificates and message stream, connected to ${name} (the Debian package, found or installed by \`bash scripts/setup-system.sh --bench\`) instead of the simulator's hub: MQTT over TLS with the simulator's own server certificate, client certificates required and checked against the simulator's device root, QoS 1, no persistence (\`persistence false\`), nothing subscribed, so mosquitto acknowledges each message without storing it anywhere. ${rounds} rounds alternate simulator and mosquitto; the table shows medians (errors summed). Throughput counts acknowledged messages over the sending window; CPU figures cover the window from the first to the last acknowledgement, the server's (simulator or mosquitto) from /proc, the client's (all ${DEVICES} device clients in one process) from \`process.cpuUsage\`; a share of 100 % is one core busy the whole window.`,
      ],
    };
  },
};
