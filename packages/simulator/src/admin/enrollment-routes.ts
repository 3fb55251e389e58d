import { certificateFacts } from "@skittlesorter/csr";
import { Enrollments } from "../dps/enrollments.ts";
import { newEtag } from "../dps/service.ts";
import { HttpError, includeSecrets, type RouteRequest, type Router } from "../net/http.ts";
import type { SimContext } from "../state/context.ts";
import type {
  AllocationPolicy,
  Enrollment,
  EnrollmentKind,
  IndividualEnrollment,
  ReprovisionPolicy,
  SymmetricKeyAttestation,
} from "../state/model.ts";
import {
  bad,
  id,
  ifMatchOf,
  object,
  optionalBoolean,
  optionalString,
  symmetricKey,
  thumbprint,
} from "./validate.ts";

/** An enrollment without its symmetric keys unless the request opted in (`?includeSecrets=true`). */
function enrollmentView(request: RouteRequest, enrollment: Enrollment): Enrollment | Record<string, unknown> {
  if (includeSecrets(request) || enrollment.attestation.type !== "symmetricKey") return enrollment;
  return { ...enrollment, attestation: { type: "symmetricKey" } };
}

function enrollmentFromBody(
  context: SimContext,
  kind: EnrollmentKind,
  enrollmentId: string,
  body: Record<string, unknown>,
  existing: Enrollment | undefined,
): Enrollment {
  const attestationInput = object(body.attestation, '"attestation"');
  const type = attestationInput.type ?? "symmetricKey";
  const now = context.nowIso();
  let attestation: Enrollment["attestation"];
  if (type === "symmetricKey") {
    const previous = existing?.attestation.type === "symmetricKey" ? existing.attestation : undefined;
    const given: SymmetricKeyAttestation = {
      type: "symmetricKey",
      primaryKey:
        attestationInput.primaryKey === undefined && previous
          ? previous.primaryKey
          : symmetricKey(attestationInput, "primaryKey"),
      secondaryKey:
        attestationInput.secondaryKey === undefined && previous
          ? previous.secondaryKey
          : symmetricKey(attestationInput, "secondaryKey"),
    };
    attestation = given;
  } else if (type === "x509" && kind === "group") {
    const caName = optionalString(attestationInput, "caName");
    if (caName === undefined) {
      throw bad(
        "INVALID_BODY",
        'An X.509 enrollment group needs "attestation.caName": the name of an uploaded CA certificate.',
      );
    }
    for (const name of [caName, optionalString(attestationInput, "secondaryCaName")]) {
      if (name !== undefined && context.store.getCaCertificate(name) === undefined) {
        throw new HttpError(
          404,
          "CA_CERTIFICATE_NOT_FOUND",
          `CA certificate "${name}" is not uploaded; upload it first (skittle-sim ca upload).`,
        );
      }
    }
    const secondaryCaName = optionalString(attestationInput, "secondaryCaName");
    attestation = { type: "x509", caName, ...(secondaryCaName === undefined ? {} : { secondaryCaName }) };
  } else if (type === "x509") {
    const prints: string[] = [];
    for (const [certKey, printKey] of [
      ["certificate", "thumbprint"],
      ["secondaryCertificate", "secondaryThumbprint"],
    ] as const) {
      const pem = optionalString(attestationInput, certKey);
      const print = optionalString(attestationInput, printKey);
      if (pem !== undefined) {
        try {
          prints.push(certificateFacts(pem).sha256Thumbprint);
        } catch (error) {
          throw bad("INVALID_CERTIFICATE", `"attestation.${certKey}": ${(error as Error).message}`);
        }
      } else if (print !== undefined) {
        prints.push(thumbprint(print, `attestation.${printKey}`));
      }
    }
    const [primaryThumbprint, secondaryThumbprint] = prints;
    if (primaryThumbprint === undefined) {
      throw bad(
        "INVALID_BODY",
        'An X.509 individual enrollment needs "attestation.certificate" (PEM) or "attestation.thumbprint".',
      );
    }
    attestation = {
      type: "x509",
      primaryThumbprint,
      secondaryThumbprint,
    };
  } else {
    throw bad("INVALID_BODY", '"attestation.type" must be "symmetricKey" or "x509".');
  }
  const common = enrollmentCommon(context, body, existing);
  const enrollment = {
    kind,
    id: enrollmentId,
    attestation,
    ...common,
    etag: newEtag(),
    createdDateTimeUtc: existing?.createdDateTimeUtc ?? now,
    lastUpdatedDateTimeUtc: now,
  } as Enrollment;
  if (kind === "individual") {
    const deviceId = optionalString(body, "deviceId");
    if (deviceId !== undefined) (enrollment as IndividualEnrollment).deviceId = deviceId;
  }
  return enrollment;
}

function enrollmentCommon(
  context: SimContext,
  body: Record<string, unknown>,
  existing: Enrollment | undefined,
): Pick<Enrollment, "enabled" | "allocationPolicy" | "reprovisionPolicy"> &
  Partial<Pick<Enrollment, "credentialPolicy" | "iotHubs" | "staticHub">> {
  const enabled = optionalBoolean(body, "enabled") ?? existing?.enabled ?? true;
  const allocationPolicy = (body.allocationPolicy ??
    existing?.allocationPolicy ??
    "hashed") as AllocationPolicy;
  if (allocationPolicy !== "hashed" && allocationPolicy !== "static") {
    throw bad("INVALID_BODY", '"allocationPolicy" must be "hashed" or "static".');
  }
  const result: ReturnType<typeof enrollmentCommon> = {
    enabled,
    allocationPolicy,
    reprovisionPolicy: reprovision(body.reprovisionPolicy, existing?.reprovisionPolicy),
  };
  const policy = "credentialPolicy" in body ? body.credentialPolicy : existing?.credentialPolicy;
  if (policy !== undefined && policy !== null) {
    if (typeof policy !== "string" || context.store.getPolicy(context.adrNamespace, policy) === undefined) {
      throw new HttpError(
        404,
        "POLICY_NOT_FOUND",
        `Credential policy ${JSON.stringify(policy)} does not exist in ADR namespace "${context.adrNamespace}"; ` +
          "create it (skittle-sim policy create) or leave credentialPolicy out.",
      );
    }
    result.credentialPolicy = policy;
  }
  const hubs = "iotHubs" in body ? body.iotHubs : existing?.iotHubs;
  if (hubs !== undefined && hubs !== null) {
    if (!Array.isArray(hubs) || hubs.some((hub) => typeof hub !== "string")) {
      throw bad("INVALID_BODY", '"iotHubs" must be an array of linked hub names.');
    }
    result.iotHubs = hubs.map((hub: string) => hubName(context, hub));
  }
  const staticHub = "staticHub" in body ? body.staticHub : existing?.staticHub;
  if (staticHub !== undefined && staticHub !== null) {
    if (typeof staticHub !== "string") throw bad("INVALID_BODY", '"staticHub" must be a linked hub name.');
    result.staticHub = hubName(context, staticHub);
  }
  if (allocationPolicy === "static" && result.staticHub === undefined) {
    throw bad("INVALID_BODY", 'Static allocation needs "staticHub": the linked hub to assign devices to.');
  }
  return result;
}

/** Resolves a hub given by name or host name. */
function hubName(context: SimContext, value: string): string {
  const hub = context.store.listHubs().find((item) => item.name === value || item.hostname === value);
  if (hub === undefined) {
    throw new HttpError(
      404,
      "HUB_NOT_FOUND",
      `IoT hub "${value}" is not linked to this DPS; see GET /admin/hubs.`,
    );
  }
  return hub.name;
}

export function reprovision(value: unknown, existing: ReprovisionPolicy | undefined): ReprovisionPolicy {
  const record = object(value, '"reprovisionPolicy"');
  return {
    updateHubAssignment:
      optionalBoolean(record, "updateHubAssignment") ?? existing?.updateHubAssignment ?? true,
    migrateDeviceData: optionalBoolean(record, "migrateDeviceData") ?? existing?.migrateDeviceData ?? true,
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
    router.add("GET", `/admin/${segment}`, (request) => ({
      body: enrollments.list(kind).map((enrollment) => enrollmentView(request, enrollment)),
    }));
    router.add("GET", `/admin/${segment}/:id`, (request) => {
      const enrollment = enrollments.get(kind, enrollmentId(request));
      return { body: enrollmentView(request, enrollment), headers: { etag: enrollment.etag } };
    });
    router.add("PUT", `/admin/${segment}/:id`, async (request) => {
      const key = enrollmentId(request);
      const { enrollment, created } = await enrollments.put(
        kind,
        key,
        (existing) => enrollmentFromBody(context, kind, key, object(request.body, "The body"), existing),
        precondition(request),
      );
      return {
        status: created ? 201 : 200,
        body: enrollmentView(request, enrollment),
        headers: { etag: enrollment.etag },
      };
    });
    router.add("PATCH", `/admin/${segment}/:id`, async (request) => {
      const updated = await enrollments.update(
        kind,
        enrollmentId(request),
        (existing) => {
          const body = object(request.body, "The body");
          if ("attestation" in body) {
            throw bad(
              "INVALID_BODY",
              "PATCH cannot change the attestation; PUT the whole enrollment instead.",
            );
          }
          const changed = {
            ...existing,
            ...enrollmentCommon(context, body, existing),
            etag: newEtag(),
            lastUpdatedDateTimeUtc: context.nowIso(),
          } as Enrollment;
          if (body.credentialPolicy === null) delete changed.credentialPolicy;
          return changed;
        },
        precondition(request),
      );
      return { body: enrollmentView(request, updated), headers: { etag: updated.etag } };
    });
    router.add("DELETE", `/admin/${segment}/:id`, async (request) => {
      await enrollments.delete(kind, enrollmentId(request), precondition(request));
      return { status: 204 };
    });
  }
}
// --- CA certificates (proof of possession) ------------------------------------------------------
