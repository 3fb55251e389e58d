// The DPS service REST API (api-version 2021-10-01) on the HTTPS router: enrollment groups, individual
// enrollments, registration states, queries and bulk operations, SAS-authenticated with provisioningserviceowner.
import { serviceError } from "../../errors.ts";
import {
  ifMatchOf,
  type RouteHandler,
  type RouteRequest,
  type RouteResponse,
  type Router,
} from "../../net/http.ts";
import type { SimContext } from "../../state/context.ts";
import type { Enrollment, EnrollmentKind, Registration } from "../../state/model.ts";
import { buildEnrollment } from "../enrollment-spec.ts";
import { Enrollments, type Precondition } from "../enrollments.ts";
import { authorize, serviceKey } from "./auth.ts";
import { bulkOperation } from "./bulk.ts";
import { DpsRestError, dpsErrorResponse } from "./errors.ts";
import { queryPage } from "./query.ts";
import { attestationToWire, enrollmentToWire, registrationToWire, specFromWire } from "./wire.ts";

const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };

/** The etag of `If-Match` as the SDK sends it (verbatim, maybe quoted). */
export function ifMatch(request: RouteRequest): Precondition {
  const etag = ifMatchOf(request.headers["if-match"]);
  return etag === undefined ? {} : { ifMatch: etag };
}

/** The DPS service of one simulator: its routes share the enrollment service with the admin API. */
export class DpsServiceApi {
  readonly #context: SimContext;
  readonly enrollments: Enrollments;

  constructor(context: SimContext) {
    this.#context = context;
    this.enrollments = new Enrollments(context);
  }

  /** Wraps a handler: authenticates, answers DPS error bodies, logs the explanation (never the token). */
  handler(handle: RouteHandler): RouteHandler {
    return async (request) => {
      try {
        authorize(request.headers, serviceKey(this.#context.store), this.#context.clock);
        const response = await handle(request);
        return { ...response, headers: { ...JSON_TYPE, ...response.headers } };
      } catch (error) {
        const answer = dpsErrorResponse(error, this.#context.nowIso());
        if (answer === undefined) throw error;
        this.#context.logger.info("DPS service request refused", {
          method: request.method,
          path: request.path,
          status: answer.status,
          explanation: (answer.body as { info: { explanation: string } }).info.explanation,
        });
        return { ...answer, headers: JSON_TYPE };
      }
    };
  }

  nowIso(): string {
    return this.#context.nowIso();
  }

  wire(enrollment: Enrollment): Record<string, unknown> {
    const registration =
      enrollment.kind === "individual" ? this.#context.store.getRegistration(enrollment.id) : undefined;
    return enrollmentToWire(enrollment, this.#context.store.listHubs(), { includeKeys: true, registration });
  }

  /** Creates or replaces an enrollment from its DPS body. */
  async put(
    kind: EnrollmentKind,
    id: string,
    body: unknown,
    precondition: Precondition,
  ): Promise<Enrollment> {
    const { id: bodyId, spec } = specFromWire(kind, body);
    if (bodyId !== undefined && bodyId.toLowerCase() !== id.toLowerCase()) {
      throw serviceError(
        "SIM_INVALID_REQUEST",
        "ID_MISMATCH",
        `The body's id "${bodyId}" differs from the one in the path ("${id}").`,
      );
    }
    const { enrollment } = await this.enrollments.put(
      kind,
      id.toLowerCase(),
      (existing) => buildEnrollment(this.#context, kind, id.toLowerCase(), spec, existing),
      precondition,
    );
    return enrollment;
  }

  registration(id: string): Registration {
    const registration = this.#context.store.getRegistration(id.toLowerCase());
    if (registration === undefined) {
      throw serviceError("SIM_NOT_FOUND", "REGISTRATION_NOT_FOUND", `No registration state "${id}".`);
    }
    return registration;
  }

  registrationWire(registration: Registration): Record<string, unknown> {
    return registrationToWire(registration, this.#context.store.listHubs());
  }

  deleteRegistration(id: string, precondition: Precondition): void {
    const registration = this.registration(id);
    const etag = precondition.ifMatch;
    if (etag !== undefined && etag !== "*" && etag !== registration.etag) {
      throw new DpsRestError(
        412,
        "The etag does not match the registration state's current etag; read it again.",
      );
    }
    this.#context.store.deleteRegistration(registration.registrationId);
    this.#context.store.addEvent(
      this.#context.nowIso(),
      "registration.deleted",
      registration.registrationId,
      {
        via: "dps-service-api",
      },
    );
  }

  groupRegistrations(groupId: string): Registration[] {
    return this.#context.store
      .listRegistrations()
      .filter((item) => item.enrollmentKind === "group" && item.enrollmentId === groupId.toLowerCase());
  }
}

function enrollmentRoutes(router: Router, api: DpsServiceApi, kind: EnrollmentKind, segment: string): void {
  const id = (request: RouteRequest) => request.params.id ?? "";
  const answer = (enrollment: Enrollment): RouteResponse => ({ body: api.wire(enrollment) });
  router.add(
    "POST",
    `/${segment}/query`,
    api.handler((request) => {
      const items = api.enrollments.list(kind).map((enrollment) => api.wire(enrollment));
      return queryPage(request, items, kind === "group" ? "EnrollmentGroup" : "Enrollment");
    }),
  );
  router.add(
    "POST",
    `/${segment}`,
    api.handler((request) => bulkOperation(api, kind, request.body)),
  );
  router.add(
    "PUT",
    `/${segment}/:id`,
    api.handler(async (request) => answer(await api.put(kind, id(request), request.body, ifMatch(request)))),
  );
  router.add(
    "GET",
    `/${segment}/:id`,
    api.handler((request) => answer(api.enrollments.get(kind, id(request).toLowerCase()))),
  );
  router.add(
    "DELETE",
    `/${segment}/:id`,
    api.handler(async (request) => {
      await api.enrollments.delete(kind, id(request).toLowerCase(), ifMatch(request));
      return { status: 204 };
    }),
  );
  router.add(
    "POST",
    `/${segment}/:id/attestationmechanism`,
    api.handler((request) => ({
      body: attestationToWire(api.enrollments.get(kind, id(request).toLowerCase()), true),
    })),
  );
}

/** Registers the DPS service REST routes (paths as the SDK writes them; the router ignores case). */
export function registerDpsServiceRoutes(router: Router, context: SimContext): DpsServiceApi {
  const api = new DpsServiceApi(context);
  serviceKey(context.store); // made at first start, so sim.json can publish the connection string
  enrollmentRoutes(router, api, "individual", "enrollments");
  enrollmentRoutes(router, api, "group", "enrollmentGroups");
  const id = (request: RouteRequest) => request.params.id ?? "";
  router.add(
    "GET",
    "/registrations/:id",
    api.handler((request) => ({ body: api.registrationWire(api.registration(id(request))) })),
  );
  router.add(
    "DELETE",
    "/registrations/:id",
    api.handler((request) => {
      api.deleteRegistration(id(request), ifMatch(request));
      return { status: 204 };
    }),
  );
  router.add(
    "POST",
    "/registrations/:id/query",
    api.handler((request) => {
      api.enrollments.get("group", id(request).toLowerCase());
      const items = api.groupRegistrations(id(request)).map((item) => api.registrationWire(item));
      return queryPage(request, items, "DeviceRegistration");
    }),
  );
  return api;
}
