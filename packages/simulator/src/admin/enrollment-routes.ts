// Admin API of enrollment groups and individual enrollments: the admin body shape, on the DPS enrollment service.
import {
  ALLOCATION_POLICIES,
  type AttestationSpec,
  buildEnrollment,
  commonSettings,
  customAllocationOf,
  type EnrollmentSpec,
  initialTwinOf,
} from "../dps/enrollment-spec.ts";
import { Enrollments } from "../dps/enrollments.ts";
import { newEtag } from "../dps/etag.ts";
import { includeSecrets, type RouteRequest, type Router } from "../net/http.ts";
import type { SimContext } from "../state/context.ts";
import type { AllocationPolicy, Enrollment } from "../state/model.ts";
import { bad, id, ifMatchOf, object, optionalBoolean, optionalString } from "./validate.ts";

/** An enrollment without its symmetric keys unless the request opted in (`?includeSecrets=true`). */
function enrollmentView(request: RouteRequest, enrollment: Enrollment): Enrollment | Record<string, unknown> {
  if (includeSecrets(request) || enrollment.attestation.type !== "symmetricKey") return enrollment;
  return { ...enrollment, attestation: { type: "symmetricKey" } };
}

function present(...values: (string | undefined)[]): string[] | undefined {
  const given = values.filter((value): value is string => value !== undefined);
  return given.length === 0 ? undefined : given;
}

function attestationSpec(body: Record<string, unknown>): AttestationSpec | undefined {
  if (body.attestation === undefined) return undefined;
  const input = object(body.attestation, '"attestation"');
  const type = input.type ?? "symmetricKey";
  if (type === "symmetricKey") {
    return {
      type,
      primaryKey: optionalString(input, "primaryKey"),
      secondaryKey: optionalString(input, "secondaryKey"),
    };
  }
  if (type !== "x509") throw bad("INVALID_BODY", '"attestation.type" must be "symmetricKey" or "x509".');
  return {
    type,
    caReferences: present(optionalString(input, "caName"), optionalString(input, "secondaryCaName")),
    certificates: present(
      optionalString(input, "certificate"),
      optionalString(input, "secondaryCertificate"),
    ),
    thumbprints: present(optionalString(input, "thumbprint"), optionalString(input, "secondaryThumbprint")),
  };
}

function nullableString(body: Record<string, unknown>, key: string): string | null | undefined {
  return body[key] === null ? null : optionalString(body, key);
}

/** The admin body (`docs`: README, admin API) as an enrollment spec. */
function specFrom(body: Record<string, unknown>): EnrollmentSpec {
  const allocationPolicy = body.allocationPolicy;
  if (allocationPolicy !== undefined && !ALLOCATION_POLICIES.includes(allocationPolicy as AllocationPolicy)) {
    throw bad("INVALID_BODY", `"allocationPolicy" must be one of ${ALLOCATION_POLICIES.join(", ")}.`);
  }
  const hubs = body.iotHubs;
  if (
    hubs !== undefined &&
    hubs !== null &&
    (!Array.isArray(hubs) || hubs.some((hub) => typeof hub !== "string"))
  ) {
    throw bad("INVALID_BODY", '"iotHubs" must be an array of linked hub names.');
  }
  const reprovision = object(body.reprovisionPolicy, '"reprovisionPolicy"');
  return {
    attestation: attestationSpec(body),
    enabled: optionalBoolean(body, "enabled"),
    credentialPolicy: nullableString(body, "credentialPolicy"),
    allocationPolicy: allocationPolicy as AllocationPolicy | undefined,
    iotHubs: hubs as string[] | null | undefined,
    staticHub: nullableString(body, "staticHub"),
    reprovisionPolicy: {
      ...(optionalBoolean(reprovision, "updateHubAssignment") === undefined
        ? {}
        : { updateHubAssignment: optionalBoolean(reprovision, "updateHubAssignment") as boolean }),
      ...(optionalBoolean(reprovision, "migrateDeviceData") === undefined
        ? {}
        : { migrateDeviceData: optionalBoolean(reprovision, "migrateDeviceData") as boolean }),
    },
    customAllocationDefinition: customAllocationOf(body.customAllocationDefinition),
    initialTwin: initialTwinOf(body.initialTwin),
    deviceId: optionalString(body, "deviceId"),
  };
}

/** The admin API of enrollment groups and individual enrollments, on the DPS enrollment service. */
export function enrollmentRoutes(router: Router, context: SimContext): void {
  const enrollments = new Enrollments(context);
  for (const [segment, kind] of [
    ["enrollment-groups", "group"],
    ["individual-enrollments", "individual"],
  ] as const) {
    const what = kind === "group" ? "enrollment group" : "individual enrollment";
    const enrollmentId = (request: RouteRequest): string => id(request.params.id ?? "", `${what} id`);
    const precondition = (request: RouteRequest) => {
      const ifNoneMatch = request.headers["if-none-match"];
      return {
        ifMatch: ifMatchOf(request),
        ifNoneMatch: typeof ifNoneMatch === "string" ? ifNoneMatch : undefined,
      };
    };
    const answer = (request: RouteRequest, enrollment: Enrollment, status = 200) => ({
      status,
      body: enrollmentView(request, enrollment),
      headers: { etag: enrollment.etag },
    });
    router.add("GET", `/admin/${segment}`, (request) => ({
      body: enrollments.list(kind).map((enrollment) => enrollmentView(request, enrollment)),
    }));
    router.add("GET", `/admin/${segment}/:id`, (request) =>
      answer(request, enrollments.get(kind, enrollmentId(request))),
    );
    router.add("PUT", `/admin/${segment}/:id`, async (request) => {
      const key = enrollmentId(request);
      const spec = specFrom(object(request.body, "The body"));
      const { enrollment, created } = await enrollments.put(
        kind,
        key,
        (existing) => buildEnrollment(context, kind, key, spec, existing),
        precondition(request),
      );
      return answer(request, enrollment, created ? 201 : 200);
    });
    router.add("PATCH", `/admin/${segment}/:id`, async (request) => {
      const body = object(request.body, "The body");
      if ("attestation" in body) {
        throw bad("INVALID_BODY", "PATCH cannot change the attestation; PUT the whole enrollment instead.");
      }
      const spec = specFrom(body);
      const updated = await enrollments.update(
        kind,
        enrollmentId(request),
        (existing) => {
          // commonSettings keeps what the patch leaves out; what it drops (null) must go.
          const {
            credentialPolicy: _policy,
            iotHubs: _hubs,
            staticHub: _static,
            customAllocationDefinition: _custom,
            initialTwin: _twin,
            iotEdge: _edge,
            ...rest
          } = existing;
          return {
            ...rest,
            ...commonSettings(context, spec, existing),
            etag: newEtag(),
            lastUpdatedDateTimeUtc: context.nowIso(),
          } as Enrollment;
        },
        precondition(request),
      );
      return answer(request, updated);
    });
    router.add("DELETE", `/admin/${segment}/:id`, async (request) => {
      await enrollments.delete(kind, enrollmentId(request), precondition(request));
      return { status: 204 };
    });
  }
}
