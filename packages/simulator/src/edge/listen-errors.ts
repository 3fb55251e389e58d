import { SimulatorError } from "../errors.ts";

/** The two usual ways to let an unprivileged process bind ports below 1024 on Linux. */
export const LOW_PORT_FIXES =
  `either let Node bind them: sudo setcap 'cap_net_bind_service=+ep' "$(readlink -f "$(which node)")", ` +
  "or lower the first unprivileged port: sudo sysctl net.ipv4.ip_unprivileged_port_start=443 " +
  "(add it to /etc/sysctl.d/ to keep it), or run as root";

/** `SIM_LISTEN_FAILED` for an edge port (443 or 8883) that could not be bound, saying how to fix it. */
export function edgeListenError(
  error: NodeJS.ErrnoException,
  host: string,
  port: number,
  what: string,
): SimulatorError {
  const where = `${host}:${port}`;
  let message: string;
  if (error.code === "EACCES" || error.code === "EPERM") {
    message =
      `Edge mode cannot listen on ${where} (${what}): ports below 1024 need root or CAP_NET_BIND_SERVICE. ` +
      `To fix it, ${LOW_PORT_FIXES}; or start without --edge (free ports, host:port).`;
  } else if (error.code === "EADDRINUSE") {
    message =
      `Edge mode cannot listen on ${where} (${what}): port ${port} is in use, by another program or another ` +
      `skittle-sim in edge mode. Stop it (see which with: sudo ss -ltnp 'sport = :${port}'), ` +
      "or start without --edge (free ports, host:port).";
  } else {
    message = `Edge mode cannot listen on ${where} (${what}): ${error.message}`;
  }
  return new SimulatorError("SIM_LISTEN_FAILED", message, { cause: error });
}
