import { SimulatorError } from "../errors.ts";
import type { StartSimulatorOptions } from "../options.ts";

/** Throws `SIM_INVALID_OPTION` for options edge mode cannot honour, and for a malformed `tlsRoot`. */
export function checkEdgeOptions(options: StartSimulatorOptions): void {
  if (options.edge !== undefined && typeof options.edge !== "boolean") {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      `edge must be true or false, got ${String(options.edge)}.`,
    );
  }
  if (options.edge === true) {
    const fixed = (["dpsPort", "dpsWsPort", "hubPort", "hubWsPort", "httpsPort"] as const).filter(
      (name) => options[name] !== undefined,
    );
    if (fixed.length > 0) {
      throw new SimulatorError(
        "SIM_INVALID_OPTION",
        `${fixed.join(", ")} cannot be combined with edge mode, which serves MQTT on 8883 and HTTPS and WebSocket on 443; drop ${fixed.length === 1 ? "it" : "them"}, or drop edge.`,
      );
    }
  }
  const root = options.tlsRoot;
  if (
    root !== undefined &&
    (typeof root.certificatePem !== "string" ||
      !root.certificatePem.includes("BEGIN CERTIFICATE") ||
      typeof root.privateKeyPem !== "string" ||
      !root.privateKeyPem.includes("PRIVATE KEY"))
  ) {
    throw new SimulatorError(
      "SIM_INVALID_OPTION",
      "tlsRoot must be { certificatePem, privateKeyPem }: a CA certificate and its private key, both PEM.",
    );
  }
}
