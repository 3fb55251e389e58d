import type { SimConfigOnDisk } from "../config.ts";
import type { StartSimulatorOptions } from "../options.ts";
import { type Simulator, startSimulator } from "../simulator.ts";
import type { TlsRoot } from "../state/pki.ts";

export type StartEdgeSimulatorOptions = Omit<StartSimulatorOptions, "edge" | "tlsRoot"> & {
  /** The root this process trusts (`NODE_EXTRA_CA_CERTS`); in the repo's edge tests, `edgeTlsRoot()`. */
  tlsRoot: TlsRoot;
};

/**
 * A simulator in edge mode (`localhost`, 8883 and 443) whose TLS server certificate is issued by `tlsRoot`, so the
 * official clients that have no `ca` option trust it. Only one can run on a machine at a time.
 */
export function startEdgeSimulator(
  options: StartEdgeSimulatorOptions & { dataDir: string },
): Promise<Simulator<SimConfigOnDisk>>;
export function startEdgeSimulator(options: StartEdgeSimulatorOptions): Promise<Simulator>;
export function startEdgeSimulator(options: StartEdgeSimulatorOptions): Promise<Simulator> {
  return startSimulator({ ...options, edge: true });
}
