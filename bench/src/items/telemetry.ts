import { join } from "node:path";
import { runClient, startSimProcess } from "../processes.ts";
import type { BenchContext, BenchItem, Row } from "../results.ts";
import { round } from "../stats.ts";
import type { Input as FleetInput, Output as FleetOutput } from "./fleet.client.ts";

const DEVICES = 100;

async function ingest(context: BenchContext, name: string, messages: number): Promise<FleetOutput> {
  const sim = await startSimProcess({ dataDir: join(context.workDir, name), assignmentDelayMs: 0 });
  try {
    const group = sim.config.enrollmentGroups[0];
    if (group?.primaryKey === undefined) throw new Error("the simulator has no symmetric-key group");
    const input: FleetInput = {
      host: sim.config.dps.host,
      port: sim.config.dps.port,
      idScope: sim.config.idScope,
      groupKey: group.primaryKey,
      caFile: sim.config.trustedCaFile,
      devices: DEVICES,
      concurrency: DEVICES,
      prefix: "bench-telemetry-",
      csrKeyType: "ec-p384",
      telemetry: messages,
      timeoutMs: 300_000,
      simPid: sim.pid,
    };
    return await runClient<FleetOutput>("fleet.client.ts", input, {
      workDir: context.workDir,
      timeoutMs: 400_000,
    });
  } finally {
    await sim.close();
  }
}

export const telemetry: BenchItem = {
  id: 4,
  title: "Telemetry ingest: QoS 1 messages per second from 100 connected devices",
  async run(context) {
    const messages = context.quick ? 5 : 50;
    context.log(
      `  ${DEVICES} devices with DPS-issued certificates, all connected, ${messages} messages each`,
    );
    const output = await ingest(context, "sim", messages);
    const t = output.report.telemetry;
    if (t === null) throw new Error("the fleet run sent no telemetry");
    const errors = output.report.errors.reduce((total, group) => total + group.count, 0);
    const window = output.telemetryWindow;
    const perMessage = (cpuMs: number | null | undefined): number | null =>
      window === null || cpuMs === null || cpuMs === undefined || window.messages === 0
        ? null
        : round(cpuMs / window.messages, 3);
    const coreShare = (cpuMs: number | null | undefined): number | null =>
      window === null || cpuMs === null || cpuMs === undefined || window.wallMs <= 0
        ? null
        : round((cpuMs / window.wallMs) * 100, 1);
    const simCpu = {
      msPerMessage: perMessage(window?.simCpuMs),
      coreSharePercent: coreShare(window?.simCpuMs),
    };
    const clientCpu = {
      msPerMessage: perMessage(window?.clientCpuMs),
      coreSharePercent: coreShare(window?.clientCpuMs),
    };
    const rows: Row[] = [
      {
        measure: `messages/s (QoS 1), ${t.connected} devices connected`,
        unit: "/s",
        ours: t.perSecond,
        better: "higher",
      },
      {
        measure: "  acknowledgement latency p50",
        unit: "ms",
        ours: t.ackLatencyMs?.p50 ?? null,
        better: "lower",
      },
      {
        measure: "  acknowledgement latency p99",
        unit: "ms",
        ours: t.ackLatencyMs?.p99 ?? null,
        better: "lower",
      },
      { measure: `  errors (of ${t.attempted} messages)`, unit: "", ours: errors, better: "lower" },
      { measure: "  simulator CPU per message", unit: "ms", ours: simCpu.msPerMessage, better: "lower" },
      {
        measure: "  simulator CPU, share of one core",
        unit: "%",
        ours: simCpu.coreSharePercent,
        better: "lower",
      },
      { measure: "  client CPU per message", unit: "ms", ours: clientCpu.msPerMessage, better: "lower" },
      {
        measure: "  client CPU, share of one core",
        unit: "%",
        ours: clientCpu.coreSharePercent,
        better: "lower",
      },
    ];
    return {
      status: "ok",
      rows,
      details: {
        devices: DEVICES,
        messagesPerDevice: messages,
        telemetry: t,
        errors: output.report.errors,
        window,
        simCpu,
        clientCpu,
      },
      notes: [
        `${DEVICES} devices are provisioned with EC P-384 CSRs and all connected to the simulator's IoT Hub with their issued certificates through the official \`azure-iot-device\` + \`azure-iot-device-mqtt\` client (the fleet's telemetry path); then each sends ${messages} JSON messages one after another, each awaited until the hub's PUBACK (QoS 1), so at most ${DEVICES} messages are in flight. Throughput counts acknowledged messages over the sending window; the simulator writes every message to SQLite before it acknowledges it. CPU figures cover the window from the first to the last acknowledgement: the simulator's from /proc, the client's (all ${DEVICES} device clients in one process) from \`process.cpuUsage\`; a share of 100 % is one core busy the whole window.`,
      ],
    };
  },
};
