import { randomBytes, X509Certificate } from "node:crypto";
import { deriveDeviceKey, validateRegistrationId } from "@skittlesorter/attestation";
import { certificateFacts } from "@skittlesorter/csr";
import { putPolicy } from "../adr/policies.ts";
import { newEtag } from "../dps/service.ts";
import { HttpError, includeSecrets, type RouteRequest, type Router } from "../net/http.ts";
import { LIMITS, type SimContext } from "../state/context.ts";
import type {
  AdrPolicy,
  AllocationPolicy,
  CaCertificate,
  Enrollment,
  EnrollmentKind,
  IndividualEnrollment,
  LinkedHub,
  Registration,
  ReprovisionPolicy,
  Settings,
  SymmetricKeyAttestation,
} from "../state/model.ts";

const bad = (code: string, message: string): HttpError => new HttpError(400, code, message);

function object(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw bad("INVALID_BODY", `${what} must be a JSON object.`);
  }
  return value as Record<string, unknown>;
}

function optionalString(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "")
    throw bad("INVALID_BODY", `"${key}" must be a non-empty string.`);
  return value;
}

function optionalBoolean(record: Record<string, unknown>, key: string): boolean | undefined {
  const value = record[key];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw bad("INVALID_BODY", `"${key}" must be true or false.`);
  return value;
}

function optionalInteger(
  record: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const value = record[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw bad("INVALID_BODY", `"${key}" must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

/** Enrollment ids and registration ids: DPS rules, lowercased. */
function id(value: string, what: string): string {
  try {
    return validateRegistrationId(value);
  } catch (error) {
    throw bad("INVALID_ID", `Invalid ${what}: ${(error as Error).message}`);
  }
}

function resourceName(value: string, what: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(value)) {
    throw bad(
      "INVALID_NAME",
      `Invalid ${what} "${value.slice(0, 200)}": use 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit.`,
    );
  }
  return value;
}

function newSymmetricKey(): string {
  return randomBytes(64).toString("base64");
}

function symmetricKey(record: Record<string, unknown>, key: string): string {
  const value = optionalString(record, key);
  if (value === undefined) return newSymmetricKey();
  try {
    deriveDeviceKey(value, "probe");
  } catch (error) {
    throw bad("INVALID_KEY", `"${key}": ${(error as Error).message}`);
  }
  return value;
}

function thumbprint(value: string, key: string): string {
  const clean = value.replaceAll(":", "").toUpperCase();
  if (!/^[0-9A-F]{40}$|^[0-9A-F]{64}$/.test(clean)) {
    throw bad(
      "INVALID_THUMBPRINT",
      `"${key}" must be a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) thumbprint.`,
    );
  }
  return clean;
}

function checkEtag(
  request: RouteRequest,
  current: string | undefined,
  what: string,
  required: boolean,
): void {
  const header = request.headers["if-match"];
  const given = typeof header === "string" ? header.replace(/^W\//, "").replace(/^"(.*)"$/, "$1") : undefined;
  if (given === undefined) {
    if (required) {
      throw new HttpError(
        428,
        "ETAG_REQUIRED",
        `Pass the ${what}'s current etag as If-Match (or * to skip the check).`,
      );
    }
    return;
  }
  if (given !== "*" && given !== current) {
    throw new HttpError(
      412,
      "ETAG_MISMATCH",
      `The etag does not match the ${what}'s current etag; read it again (it changes on every update) and retry.`,
    );
  }
}

// --- views --------------------------------------------------------------------------------------

/** An enrollment without its symmetric keys unless the request opted in (`?includeSecrets=true`). */
function enrollmentView(request: RouteRequest, enrollment: Enrollment): Enrollment | Record<string, unknown> {
  if (includeSecrets(request) || enrollment.attestation.type !== "symmetricKey") return enrollment;
  return { ...enrollment, attestation: { type: "symmetricKey" } };
}

/** `sim.json` without the group keys and the ADR token unless the request opted in. */
function configView(request: RouteRequest, config: Record<string, unknown>): Record<string, unknown> {
  if (includeSecrets(request) || !("enrollmentGroups" in config)) return config;
  const { enrollmentGroups, adr, ...rest } = config as {
    enrollmentGroups: Record<string, unknown>[];
    adr: Record<string, unknown>;
  };
  const { token: _token, ...publicAdr } = adr;
  return {
    ...rest,
    enrollmentGroups: enrollmentGroups.map(({ primaryKey: _p, secondaryKey: _s, ...group }) => group),
    adr: publicAdr,
  };
}

function caView(record: CaCertificate): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    subject: record.subject,
    expiry: record.notAfter,
    thumbprint: record.sha1Thumbprint,
    thumbprintSha256: record.sha256Thumbprint,
    isVerified: record.isVerified,
    certificate: record.certificatePem,
    created: record.created,
    updated: record.updated,
    etag: record.etag,
  };
  if (record.verificationCode !== undefined) properties.verificationCode = record.verificationCode;
  return { name: record.name, etag: record.etag, properties };
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
      ...(secondaryThumbprint === undefined ? {} : { secondaryThumbprint }),
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

function reprovision(value: unknown, existing: ReprovisionPolicy | undefined): ReprovisionPolicy {
  const record = object(value, '"reprovisionPolicy"');
  return {
    updateHubAssignment:
      optionalBoolean(record, "updateHubAssignment") ?? existing?.updateHubAssignment ?? true,
    migrateDeviceData: optionalBoolean(record, "migrateDeviceData") ?? existing?.migrateDeviceData ?? true,
  };
}

function enrollmentRoutes(router: Router, context: SimContext): void {
  const { store } = context;
  for (const [segment, kind] of [
    ["enrollment-groups", "group"],
    ["individual-enrollments", "individual"],
  ] as const) {
    const what = kind === "group" ? "enrollment group" : "individual enrollment";
    const find = (raw: string): Enrollment => {
      const enrollment = store.getEnrollment(kind, id(raw, `${what} id`));
      if (enrollment === undefined) {
        throw new HttpError(
          404,
          "ENROLLMENT_NOT_FOUND",
          `No ${what} "${raw}"; list them with GET /admin/${segment}.`,
        );
      }
      return enrollment;
    };
    router.add("GET", `/admin/${segment}`, (request) => ({
      body: store.listEnrollments(kind).map((enrollment) => enrollmentView(request, enrollment)),
    }));
    router.add("GET", `/admin/${segment}/:id`, (request) => {
      const enrollment = find(request.params.id ?? "");
      return { body: enrollmentView(request, enrollment), headers: { etag: enrollment.etag } };
    });
    router.add("PUT", `/admin/${segment}/:id`, async (request) => {
      const enrollmentId = id(request.params.id ?? "", `${what} id`);
      const existing = store.getEnrollment(kind, enrollmentId);
      if (existing !== undefined && request.headers["if-none-match"] === "*") {
        throw new HttpError(
          409,
          "ENROLLMENT_EXISTS",
          `The ${what} "${enrollmentId}" already exists; delete it first or replace it.`,
        );
      }
      checkEtag(request, existing?.etag, what, false);
      const enrollment = enrollmentFromBody(
        context,
        kind,
        enrollmentId,
        object(request.body, "The body"),
        existing,
      );
      store.putEnrollment(enrollment);
      store.addEvent(
        context.nowIso(),
        existing === undefined ? "enrollment.created" : "enrollment.updated",
        enrollment.id,
        {
          kind,
          attestation: enrollment.attestation.type,
          enabled: enrollment.enabled,
        },
      );
      await context.changed();
      return {
        status: existing === undefined ? 201 : 200,
        body: enrollmentView(request, enrollment),
        headers: { etag: enrollment.etag },
      };
    });
    router.add("PATCH", `/admin/${segment}/:id`, async (request) => {
      const existing = find(request.params.id ?? "");
      checkEtag(request, existing.etag, what, false);
      const body = object(request.body, "The body");
      if ("attestation" in body) {
        throw bad("INVALID_BODY", "PATCH cannot change the attestation; PUT the whole enrollment instead.");
      }
      const updated = {
        ...existing,
        ...enrollmentCommon(context, body, existing),
        etag: newEtag(),
        lastUpdatedDateTimeUtc: context.nowIso(),
      } as Enrollment;
      if (body.credentialPolicy === null) delete updated.credentialPolicy;
      store.putEnrollment(updated);
      store.addEvent(context.nowIso(), "enrollment.updated", updated.id, { kind, enabled: updated.enabled });
      await context.changed();
      return { body: enrollmentView(request, updated), headers: { etag: updated.etag } };
    });
    router.add("DELETE", `/admin/${segment}/:id`, async (request) => {
      const existing = find(request.params.id ?? "");
      checkEtag(request, existing.etag, what, false);
      store.deleteEnrollment(kind, existing.id);
      store.addEvent(context.nowIso(), "enrollment.deleted", existing.id, { kind });
      await context.changed();
      return { status: 204 };
    });
  }
}

// --- CA certificates (proof of possession) ------------------------------------------------------

function caRoutes(router: Router, context: SimContext): void {
  const { store } = context;
  const find = (name: string): CaCertificate => {
    const record = store.getCaCertificate(name);
    if (record === undefined) {
      throw new HttpError(
        404,
        "CA_CERTIFICATE_NOT_FOUND",
        `No CA certificate "${name}"; list them with GET /admin/certificates.`,
      );
    }
    return record;
  };
  const pemFrom = (body: unknown): string => {
    const record = object(body, "The body");
    const pem = optionalString(record, "certificate");
    if (pem === undefined) throw bad("INVALID_BODY", 'Send {"certificate": "<PEM>"}.');
    return pem;
  };

  router.add("GET", "/admin/certificates", () => ({ body: store.listCaCertificates().map(caView) }));
  router.add("GET", "/admin/certificates/:name", (request) => {
    const record = find(request.params.name ?? "");
    return { body: caView(record), headers: { etag: record.etag } };
  });
  router.add("PUT", "/admin/certificates/:name", (request) => {
    const name = resourceName(request.params.name ?? "", "certificate name");
    const existing = store.getCaCertificate(name);
    if (existing !== undefined) {
      if (request.headers["if-match"] === undefined) {
        throw new HttpError(
          409,
          "CA_CERTIFICATE_EXISTS",
          `CA certificate "${name}" already exists; delete it, or pass its etag as If-Match to replace it.`,
        );
      }
      checkEtag(request, existing.etag, "certificate", true);
    }
    let facts: ReturnType<typeof certificateFacts>;
    try {
      facts = certificateFacts(pemFrom(request.body));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw bad("INVALID_CERTIFICATE", `The certificate cannot be read: ${(error as Error).message}`);
    }
    if (!facts.isCa) {
      throw bad(
        "NOT_A_CA",
        `"${facts.subject}" is not a CA certificate (basicConstraints cA is not set); upload the root or intermediate that signs device certificates.`,
      );
    }
    const now = context.nowIso();
    const record: CaCertificate = {
      name,
      certificatePem: facts.pem,
      subject: facts.subject,
      sha1Thumbprint: facts.sha1Thumbprint,
      sha256Thumbprint: facts.sha256Thumbprint,
      notAfter: facts.notAfter.toISOString(),
      isVerified: false,
      etag: newEtag(),
      created: existing?.created ?? now,
      updated: now,
    };
    store.putCaCertificate(record);
    store.addEvent(now, "ca.uploaded", name, {
      subject: facts.subject,
      sha256Thumbprint: facts.sha256Thumbprint,
    });
    return {
      status: existing === undefined ? 201 : 200,
      body: caView(record),
      headers: { etag: record.etag },
    };
  });
  router.add("POST", "/admin/certificates/:name/generate-verification-code", (request) => {
    const record = find(request.params.name ?? "");
    checkEtag(request, record.etag, "certificate", true);
    const updated: CaCertificate = {
      ...record,
      verificationCode: randomBytes(24).toString("hex").toUpperCase(),
      etag: newEtag(),
      updated: context.nowIso(),
    };
    store.putCaCertificate(updated);
    store.addEvent(updated.updated, "ca.verificationCode", updated.name, {});
    return { body: caView(updated), headers: { etag: updated.etag } };
  });
  router.add("POST", "/admin/certificates/:name/verify", (request) => {
    const record = find(request.params.name ?? "");
    checkEtag(request, record.etag, "certificate", true);
    if (record.verificationCode === undefined) {
      throw bad(
        "NO_VERIFICATION_CODE",
        `CA certificate "${record.name}" has no verification code; generate one first (skittle-sim ca verification-code).`,
      );
    }
    let proof: X509Certificate;
    try {
      proof = new X509Certificate(certificateFacts(pemFrom(request.body)).pem);
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw bad(
        "INVALID_CERTIFICATE",
        `The verification certificate cannot be read: ${(error as Error).message}`,
      );
    }
    const ca = new X509Certificate(record.certificatePem);
    const cn = proof.subject
      .split("\n")
      .find((line) => line.startsWith("CN="))
      ?.slice(3);
    if (cn !== record.verificationCode) {
      throw bad(
        "VERIFICATION_CODE_MISMATCH",
        `The verification certificate's CN is ${cn === undefined ? "missing" : `"${cn}"`}; it must be the verification code of "${record.name}".`,
      );
    }
    let signed = false;
    try {
      signed = proof.verify(ca.publicKey);
    } catch {
      signed = false;
    }
    if (!signed) {
      throw bad(
        "VERIFICATION_NOT_SIGNED_BY_CA",
        `The verification certificate is not signed by CA certificate "${record.name}"; sign it with that CA's private key.`,
      );
    }
    const now = context.clock.now();
    if (Date.parse(proof.validFrom) > now || Date.parse(proof.validTo) < now) {
      throw bad(
        "VERIFICATION_CERTIFICATE_EXPIRED",
        "The verification certificate is not valid now; issue a fresh one.",
      );
    }
    const { verificationCode: _code, ...rest } = record;
    const updated: CaCertificate = { ...rest, isVerified: true, etag: newEtag(), updated: context.nowIso() };
    store.putCaCertificate(updated);
    store.addEvent(updated.updated, "ca.verified", updated.name, {
      sha256Thumbprint: updated.sha256Thumbprint,
    });
    return { body: caView(updated), headers: { etag: updated.etag } };
  });
  router.add("DELETE", "/admin/certificates/:name", (request) => {
    const record = find(request.params.name ?? "");
    checkEtag(request, record.etag, "certificate", true);
    store.deleteCaCertificate(record.name);
    store.addEvent(context.nowIso(), "ca.deleted", record.name, {});
    return { status: 204 };
  });
}

// --- registrations, devices, issued certificates, events ----------------------------------------

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
    return {
      body: store.listEvents({
        limit: Number.isFinite(limit) ? limit : 100,
        afterId: Number.isFinite(afterId) ? afterId : 0,
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
  registrationRoutes(router, context);
  hubRoutes(router, context);
  policyRoutes(router, context);
}
