import { certificateFacts } from "@skittlesorter/csr";
import { putPolicy } from "../adr/policies.ts";
import { HttpError, includeSecrets, type RouteRequest, type Router } from "../net/http.ts";
import { LIMITS, type SimContext } from "../state/context.ts";
import type { AdrPolicy, LinkedHub, Registration, Settings } from "../state/model.ts";
import { caRoutes, caVerificationRoutes } from "./ca-routes.ts";
import { enrollmentRoutes } from "./enrollment-routes.ts";
import {
  bad,
  checkEtag,
  id,
  object,
  optionalBoolean,
  optionalInteger,
  optionalString,
  resourceName,
} from "./validate.ts";

/** `sim.json` without the group keys, the hubs' service connection strings and the ADR token unless the request opted in. */
function configView(request: RouteRequest, config: Record<string, unknown>): Record<string, unknown> {
  if (includeSecrets(request) || !("enrollmentGroups" in config)) return config;
  const { enrollmentGroups, adr, hubs, dps, ...rest } = config as {
    enrollmentGroups: Record<string, unknown>[];
    adr: Record<string, unknown>;
    hubs: Record<string, unknown>[];
    dps: Record<string, unknown>;
  };
  const { token: _token, ...publicAdr } = adr;
  const { serviceConnectionString: _service, ...publicDps } = dps;
  return {
    ...rest,
    hubs: hubs.map(({ serviceConnectionString: _c, ...hub }) => hub),
    dps: publicDps,
    enrollmentGroups: enrollmentGroups.map(({ primaryKey: _p, secondaryKey: _s, ...group }) => group),
    adr: publicAdr,
  };
}

function registrationView(context: SimContext, registration: Registration): Record<string, unknown> {
  const hub = registration.hub === undefined ? undefined : context.store.getHub(registration.hub);
  return {
    ...registration,
    assignedHub: hub?.hostname ?? registration.hub,
  };
}

function policyView(policy: AdrPolicy): Record<string, unknown> {
  return {
    namespace: policy.namespace,
    name: policy.name,
    validityDays: policy.validityDays,
    keyType: "ec-p384",
    issuingCaPem: policy.issuingCaPem,
    issuingCaThumbprint: certificateFacts(policy.issuingCaPem).sha256Thumbprint,
    created: policy.created,
  };
}

// --- enrollments --------------------------------------------------------------------------------

function registrationRoutes(router: Router, context: SimContext): void {
  const { store } = context;
  const find = (raw: string): Registration => {
    const registration = store.getRegistration(id(raw, "registration id"));
    if (registration === undefined) {
      throw new HttpError(
        404,
        "REGISTRATION_NOT_FOUND",
        `No registration "${raw}"; list them with GET /admin/registrations.`,
      );
    }
    return registration;
  };
  router.add("GET", "/admin/registrations", (request) => {
    const enrollment = request.query.get("enrollment");
    const list = store
      .listRegistrations()
      .filter((registration) => enrollment === null || registration.enrollmentId === enrollment);
    return { body: list.map((registration) => registrationView(context, registration)) };
  });
  router.add("GET", "/admin/registrations/:id", (request) => ({
    body: registrationView(context, find(request.params.id ?? "")),
  }));
  router.add("DELETE", "/admin/registrations/:id", (request) => {
    const registration = find(request.params.id ?? "");
    checkEtag(request, registration.etag, "registration", false);
    store.deleteRegistration(registration.registrationId);
    store.addEvent(context.nowIso(), "registration.deleted", registration.registrationId, {});
    return { status: 204 };
  });
  router.add("GET", "/admin/issued-certificates", (request) => ({
    body: store.listIssuedCertificates(request.query.get("registrationId") ?? undefined),
  }));
  router.add("GET", "/admin/events", (request) => {
    const limit = Number(request.query.get("limit") ?? 100);
    const afterId = Number(request.query.get("after") ?? 0);
    const kinds = (request.query.get("kind") ?? "").split(",").filter((kind) => kind !== "");
    return {
      body: store.listEvents({
        limit: Number.isFinite(limit) ? limit : 100,
        afterId: Number.isFinite(afterId) ? afterId : 0,
        subject: request.query.get("subject") ?? undefined,
        kinds: kinds.slice(0, 10),
      }),
    };
  });
}

// --- hubs, ADR policies, settings, status -------------------------------------------------------

function hubRoutes(router: Router, context: SimContext): void {
  const { store } = context;
  router.add("GET", "/admin/hubs", () => ({ body: store.listHubs() }));
  router.add("PUT", "/admin/hubs/:name", async (request) => {
    const name = resourceName(request.params.name ?? "", "hub name");
    const body = object(request.body, "The body");
    const existing = store.getHub(name);
    const hostname = optionalString(body, "hostname");
    if (existing?.local === true && hostname !== undefined && hostname !== existing.hostname) {
      throw bad(
        "LOCAL_HUB",
        `The host name of the simulator's own hub "${name}" follows its port and cannot be set.`,
      );
    }
    if (existing === undefined && hostname === undefined) {
      throw bad("INVALID_BODY", 'Linking a hub needs "hostname" (e.g. "other-hub.azure-devices.net").');
    }
    const hub: LinkedHub = {
      name,
      hostname: hostname ?? existing?.hostname ?? "",
      local: existing?.local ?? false,
      allocationWeight: optionalInteger(body, "allocationWeight", 0, 1000) ?? existing?.allocationWeight ?? 1,
      applyAllocationPolicy:
        optionalBoolean(body, "applyAllocationPolicy") ?? existing?.applyAllocationPolicy ?? true,
      created: existing?.created ?? context.nowIso(),
    };
    store.putHub(hub);
    store.addEvent(context.nowIso(), existing === undefined ? "hub.linked" : "hub.updated", name, {
      hostname: hub.hostname,
      allocationWeight: hub.allocationWeight,
    });
    await context.changed();
    return { status: existing === undefined ? 201 : 200, body: hub };
  });
  router.add("DELETE", "/admin/hubs/:name", async (request) => {
    const hub = store.getHub(request.params.name ?? "");
    if (hub === undefined)
      throw new HttpError(404, "HUB_NOT_FOUND", `No linked hub "${request.params.name}".`);
    if (hub.local) throw bad("LOCAL_HUB", `"${hub.name}" is the simulator's own hub and cannot be unlinked.`);
    store.deleteHub(hub.name);
    store.addEvent(context.nowIso(), "hub.unlinked", hub.name, {});
    await context.changed();
    return { status: 204 };
  });
}

function policyRoutes(router: Router, context: SimContext): void {
  const { store } = context;
  router.add("GET", "/admin/adr/policies", () => ({
    body: store.listPolicies(context.adrNamespace).map(policyView),
  }));
  router.add("GET", "/admin/adr/policies/:name", (request) => {
    const policy = store.getPolicy(context.adrNamespace, request.params.name ?? "");
    if (policy === undefined)
      throw new HttpError(404, "POLICY_NOT_FOUND", `No credential policy "${request.params.name}".`);
    return { body: policyView(policy) };
  });
  router.add("PUT", "/admin/adr/policies/:name", async (request) => {
    const name = resourceName(request.params.name ?? "", "policy name");
    const body = object(request.body, "The body");
    const existed = store.getPolicy(context.adrNamespace, name) !== undefined;
    const validityDays =
      optionalInteger(body, "validityDays", LIMITS.minValidityDays, LIMITS.maxValidityDays) ??
      LIMITS.defaultValidityDays;
    const policy = await putPolicy(context, name, validityDays);
    await context.changed();
    return { status: existed ? 200 : 201, body: policyView(policy) };
  });
}

function settingsFromBody(body: Record<string, unknown>): Partial<Settings> {
  const patch: Partial<Settings> = {};
  const delay = optionalInteger(body, "assignmentDelayMs", 0, LIMITS.maxAssignmentDelayMs);
  if (delay !== undefined) patch.assignmentDelayMs = delay;
  const strict = optionalBoolean(body, "strictCsr");
  if (strict !== undefined) patch.strictCsr = strict;
  const perMinute = optionalInteger(body, "registrationsPerMinute", 0, 1_000_000);
  if (perMinute !== undefined) patch.registrationsPerMinute = perMinute;
  return patch;
}

/** Registers every `/admin/…` route on `router`. */
export function registerAdminRoutes(router: Router, context: SimContext): void {
  router.add("GET", "/admin/status", () => ({
    body: {
      status: "running",
      idScope: context.idScope,
      registrations: context.store.listRegistrations().length,
      enrollments: context.store.listEnrollments().length,
      settings: context.settings(),
    },
  }));
  router.add("GET", "/admin/config", (request) => ({ body: configView(request, context.config()) }));
  router.add("GET", "/admin/settings", () => ({ body: context.settings() }));
  router.add("PATCH", "/admin/settings", async (request) => {
    const settings = context.updateSettings(settingsFromBody(object(request.body, "The body")));
    await context.changed();
    return { body: settings };
  });
  enrollmentRoutes(router, context);
  caRoutes(router, context);
  caVerificationRoutes(router, context);
  registrationRoutes(router, context);
  hubRoutes(router, context);
  policyRoutes(router, context);
}
