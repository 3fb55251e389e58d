// The Azure-facing REST surfaces, served over TLS as Azure serves them: one router, each service adding its routes.
import { registerAdrRoutes } from "./adr/routes.ts";
import type { SimState } from "./bootstrap.ts";
import { registerDpsRuntimeRoutes } from "./dps/https.ts";
import { registerDpsServiceRoutes } from "./dps/service-api/routes.ts";
import { registerModuleRoutes } from "./hub/module-routes.ts";
import { createServiceAuthorizer } from "./hub/service-api/auth.ts";
import { registerHubServiceApi } from "./hub/service-api/routes.ts";
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
  registerDpsRuntimeRoutes(router, deps.services.dps);
  registerAdrRoutes(router, {
    context: deps.context,
    adr: deps.services.adr,
    token: () => deps.state.namespace.token,
    pageSize: deps.options.adrPageSize ?? 100,
    operationDelayMs: deps.options.adrOperationDelayMs ?? 0,
  });
  const { context, services } = deps;
  const authorizeHubService = createServiceAuthorizer({
    store: context.store,
    clock: context.clock,
    hubs: () => services.hub.localHubs(),
  });
  registerHubServiceApi(router, { hub: services.hub, authorize: authorizeHubService });
  registerModuleRoutes(router, { hub: services.hub, authorize: authorizeHubService });
  registerDpsServiceRoutes(router, context);
}
