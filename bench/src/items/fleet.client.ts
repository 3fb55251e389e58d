// Items 3 and 4, client side: one `skittle fleet` run (runFleet, the CLI command's core) in its own process.
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { type FleetOptions, type FleetReport, runFleet } from "@skittlesorter/fleet";
import { azureIotDeviceConnector, type HubConnector } from "@skittlesorter/hub-client";
import { processCpuMs } from "../processes.ts";

export interface Input extends Omit<FleetOptions, "ca" | "onProgress" | "signal" | "hubConnector"> {
  caFile: string;
  /**
   * Telemetry goes to this port on the assigned hub's host instead of the hub's own (item 4's baseline broker),
   * through the same official client with the same certificates.
   */
  hubPortOverride?: number;
  /** The simulator's process id: its CPU time is read (from /proc) over the telemetry window. */
  simPid?: number;
}

/** From the first acknowledged (or failed) message to the last, all devices connected. */
export interface TelemetryWindow {
  /** Messages completed inside the window (the first one opens it). */
  messages: number;
  wallMs: number;
  clientCpuMs: number;
  /** Null without /proc. */
  simCpuMs: number | null;
}

/** The provisioning phase: after any pregenerated keys and CSRs, until the last device is done. */
export interface ProvisionWindow {
  clientCpuMs: number;
  /** Null without /proc or without `simPid`. */
  simCpuMs: number | null;
}

export interface Output {
  report: FleetReport;
  /** CPU time of this (client) process during the run. */
  clientCpuMs: number;
  provisionWindow: ProvisionWindow | null;
  /** With telemetry: what each process spent while messages flowed. */
  telemetryWindow: TelemetryWindow | null;
}

interface Mark {
  done: number;
  atMs: number;
  clientCpuMs: number;
  simCpuMs: number | null;
}

export async function measure(input: Input): Promise<Output> {
  const { caFile, simPid, hubPortOverride, ...options } = input;
  const ca = await readFile(caFile, "utf8");
  let hubConnector: HubConnector | undefined;
  if (hubPortOverride !== undefined) {
    const official = azureIotDeviceConnector({ ca });
    hubConnector = {
      connect: (credentials, connectOptions) =>
        official.connect(
          { ...credentials, hostName: `${credentials.hostName.replace(/:\d+$/, "")}:${hubPortOverride}` },
          connectOptions,
        ),
    };
  }
  const cpuMs = (): number => {
    const used = process.cpuUsage();
    return (used.user + used.system) / 1000;
  };
  const mark = (done: number): Mark => ({
    done,
    atMs: performance.now(),
    clientCpuMs: cpuMs(),
    simCpuMs: simPid === undefined ? null : processCpuMs(simPid),
  });
  let first: Mark | undefined;
  let last: Mark | undefined;
  const before = cpuMs();
  let provisionStart = mark(0);
  let provisionEnd: Mark | undefined;
  const report = await runFleet({
    ...options,
    ca,
    hubConnector,
    onProgress: (progress) => {
      if (progress.phase === "keygen" && progress.done === progress.total) provisionStart = mark(0);
      if (progress.phase === "provision" && progress.done === progress.total) provisionEnd = mark(0);
      if (progress.phase !== "telemetry") return;
      if (first === undefined) first = mark(progress.done);
      else if (progress.done === progress.total) last = mark(progress.done);
    },
  });
  const telemetryWindow =
    first === undefined || last === undefined
      ? null
      : {
          messages: last.done - first.done,
          wallMs: last.atMs - first.atMs,
          clientCpuMs: last.clientCpuMs - first.clientCpuMs,
          simCpuMs: first.simCpuMs === null || last.simCpuMs === null ? null : last.simCpuMs - first.simCpuMs,
        };
  const provisionWindow =
    provisionEnd === undefined
      ? null
      : {
          clientCpuMs: provisionEnd.clientCpuMs - provisionStart.clientCpuMs,
          simCpuMs:
            provisionStart.simCpuMs === null || provisionEnd.simCpuMs === null
              ? null
              : provisionEnd.simCpuMs - provisionStart.simCpuMs,
        };
  return { report, clientCpuMs: cpuMs() - before, provisionWindow, telemetryWindow };
}
