// The Azure-facing REST surfaces, served over TLS as Azure serves them: one router, each service adding its routes.
import type { SimState } from "./bootstrap.ts";
import { registerDpsServiceRoutes } from "./dps/service-api/routes.ts";
import type { Router } from "./net/http.ts";
import type { StartSimulatorOptions } from "./options.ts";
import type { Services } from "./services.ts";
import type { SimContext } from "./state/context.ts";

export interface AzureRoutesDeps {
  context: SimContext;
  services: Services;
  state: SimState;
  options: StartSimulatorOptions;
}

/** Registers every Azure REST surface on the HTTPS router; the admin API stays on the plain HTTP server. */
export function registerAzureRoutes(router: Router, deps: AzureRoutesDeps): void {
  // Each service's REST surface registers here, one line each.
  registerDpsServiceRoutes(router, deps.context);
}
