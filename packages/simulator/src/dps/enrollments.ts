// DPS enrollments (groups and individual enrollments) as a service: lookups, etag preconditions, persistence and the
// audit trail. Each wire edge (the admin API today, DPS service REST later) parses its own body into an Enrollment.
import { serviceError } from "../errors.ts";
import type { SimContext } from "../state/context.ts";
import type { Enrollment, EnrollmentKind } from "../state/model.ts";

/** `If-Match` / `If-None-Match` as given (`*` or an etag); undefined = no condition. */
export interface Precondition {
  ifMatch?: string | undefined;
  ifNoneMatch?: string | undefined;
}

const WHAT: Record<EnrollmentKind, string> = {
  group: "enrollment group",
  individual: "individual enrollment",
};

function checkIfMatch(ifMatch: string | undefined, current: string | undefined, what: string): void {
  if (ifMatch === undefined || ifMatch === "*" || ifMatch === current) return;
  throw serviceError(
    "SIM_PRECONDITION_FAILED",
    "ETAG_MISMATCH",
    `The etag does not match the ${what}'s current etag; read it again (it changes on every update) and retry.`,
  );
}

export class Enrollments {
  readonly #context: SimContext;

  constructor(context: SimContext) {
    this.#context = context;
  }

  list(kind: EnrollmentKind): Enrollment[] {
    return this.#context.store.listEnrollments(kind);
  }

  find(kind: EnrollmentKind, enrollmentId: string): Enrollment | undefined {
    return this.#context.store.getEnrollment(kind, enrollmentId);
  }

  /** The enrollment; `SIM_NOT_FOUND` (`ENROLLMENT_NOT_FOUND`) when there is none. */
  get(kind: EnrollmentKind, enrollmentId: string): Enrollment {
    const enrollment = this.find(kind, enrollmentId);
    if (enrollment === undefined) {
      throw serviceError(
        "SIM_NOT_FOUND",
        "ENROLLMENT_NOT_FOUND",
        `No ${WHAT[kind]} "${enrollmentId}"; list the ${WHAT[kind]}s to check the id.`,
      );
    }
    return enrollment;
  }

  /**
   * Creates or replaces an enrollment: the preconditions are checked first, then `build` makes it from the existing
   * one (if any). `If-None-Match: *` refuses to replace (`SIM_CONFLICT`, `ENROLLMENT_EXISTS`).
   */
  async put(
    kind: EnrollmentKind,
    enrollmentId: string,
    build: (existing: Enrollment | undefined) => Enrollment,
    precondition: Precondition = {},
  ): Promise<{ enrollment: Enrollment; created: boolean }> {
    const existing = this.find(kind, enrollmentId);
    if (existing !== undefined && precondition.ifNoneMatch === "*") {
      throw serviceError(
        "SIM_CONFLICT",
        "ENROLLMENT_EXISTS",
        `The ${WHAT[kind]} "${enrollmentId}" already exists; delete it first or replace it.`,
      );
    }
    checkIfMatch(precondition.ifMatch, existing?.etag, WHAT[kind]);
    const enrollment = build(existing);
    this.#context.store.putEnrollment(enrollment);
    this.#context.store.addEvent(
      this.#context.nowIso(),
      existing === undefined ? "enrollment.created" : "enrollment.updated",
      enrollment.id,
      { kind, attestation: enrollment.attestation.type, enabled: enrollment.enabled },
    );
    await this.#context.changed();
    return { enrollment, created: existing === undefined };
  }

  /** Changes an existing enrollment (`change` returns the new document). */
  async update(
    kind: EnrollmentKind,
    enrollmentId: string,
    change: (existing: Enrollment) => Enrollment,
    precondition: Precondition = {},
  ): Promise<Enrollment> {
    const existing = this.get(kind, enrollmentId);
    checkIfMatch(precondition.ifMatch, existing.etag, WHAT[kind]);
    const updated = change(existing);
    this.#context.store.putEnrollment(updated);
    this.#context.store.addEvent(this.#context.nowIso(), "enrollment.updated", updated.id, {
      kind,
      enabled: updated.enabled,
    });
    await this.#context.changed();
    return updated;
  }

  async delete(kind: EnrollmentKind, enrollmentId: string, precondition: Precondition = {}): Promise<void> {
    const existing = this.get(kind, enrollmentId);
    checkIfMatch(precondition.ifMatch, existing.etag, WHAT[kind]);
    this.#context.store.deleteEnrollment(kind, existing.id);
    this.#context.store.addEvent(this.#context.nowIso(), "enrollment.deleted", existing.id, { kind });
    await this.#context.changed();
  }
}
