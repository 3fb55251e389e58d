import { join } from "node:path";
import { runClient, startSimProcess } from "../processes.ts";
import type { BenchContext, BenchItem, Row } from "../results.ts";
import type { Input as FleetInput, Output as FleetOutput } from "./fleet.client.ts";

const DEVICES = 100;

async function ingest(
  context: BenchContext,
  name: string,
  messages: number,
  experiment: { noDelay?: boolean },
): Promise<FleetOutput> {
  const sim = await startSimProcess(
    { dataDir: join(context.workDir, name), assignmentDelayMs: 0 },
    experiment,
  );
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
    };
    return await runClient<FleetOutput>("fleet.client.ts", input, {
      workDir: context.workDir,
      timeoutMs: 400_000,
    });
  } finally {
    await sim.close();
  }
}

function rowsOf(output: FleetOutput, label: string): Row[] {
  const t = output.report.telemetry;
  if (t === null) throw new Error("the fleet run sent no telemetry");
  const errors = output.report.errors.reduce((total, group) => total + group.count, 0);
  return [
    {
      measure: `${label}messages/s (QoS 1), ${t.connected} devices connected`,
      unit: "/s",
      ours: t.perSecond,
      better: "higher",
    },
    {
      measure: `  ${label}acknowledgement latency p50`,
      unit: "ms",
      ours: t.ackLatencyMs?.p50 ?? null,
      better: "lower",
    },
    {
      measure: `  ${label}acknowledgement latency p99`,
      unit: "ms",
      ours: t.ackLatencyMs?.p99 ?? null,
      better: "lower",
    },
    { measure: `  ${label}errors (of ${t.attempted} messages)`, unit: "", ours: errors, better: "lower" },
  ];
}

export const telemetry: BenchItem = {
  id: 4,
  title: "Telemetry ingest: QoS 1 messages per second from 100 connected devices",
  async run(context) {
    const messages = context.quick ? 5 : 50;
    context.log(
      `  ${DEVICES} devices with DPS-issued certificates, all connected, ${messages} messages each`,
    );
    const stock = await ingest(context, "sim", messages, {});
    context.log("  experiment: the same against a simulator with TCP_NODELAY");
    const noDelay = await ingest(context, "sim-nodelay", messages, { noDelay: true });
    return {
      status: "ok",
      rows: [...rowsOf(stock, ""), ...rowsOf(noDelay, "[experiment: simulator with TCP_NODELAY] ")],
      details: {
        devices: DEVICES,
        messagesPerDevice: messages,
        telemetry: stock.report.telemetry,
        errors: stock.report.errors,
        noDelayExperiment: { telemetry: noDelay.report.telemetry, errors: noDelay.report.errors },
      },
      notes: [
        `${DEVICES} devices are provisioned with EC P-384 CSRs and all connected to the simulator's IoT Hub with their issued certificates through the official \`azure-iot-device\` + \`azure-iot-device-mqtt\` client (the fleet's telemetry path); then each sends ${messages} JSON messages one after another, each awaited until the hub's PUBACK (QoS 1), so at most ${DEVICES} messages are in flight. Throughput counts acknowledged messages over the sending window; the simulator writes every message to SQLite before it acknowledges it. The experiment rows repeat the run against a simulator whose TLS servers set TCP_NODELAY (a bench-only patch).`,
      ],
    };
  },
};
