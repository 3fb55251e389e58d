// Provisioning view: enrollment groups and individual enrollments (create, enable/disable, delete), registration
// history, and CA certificates with upload and proof-of-possession status.
import {
  api,
  bus,
  button,
  card,
  dateTime,
  debounce,
  el,
  enc,
  field,
  form,
  get,
  outcome,
  pill,
  table,
  time,
} from "./lib.js";

const SEGMENT = { group: "enrollment-groups", individual: "individual-enrollments" };

function enrollmentTable(kind, enrollments, reload, result) {
  const path = (enrollment) => `/admin/${SEGMENT[kind]}/${enc(enrollment.id)}`;
  const act = (action) => async () => {
    try {
      await action();
      await reload();
    } catch (error) {
      result.fail(error);
    }
  };
  return table(
    kind === "group" ? "enrollment groups" : "individual enrollments",
    [
      {
        label: kind === "group" ? "Group" : "Registration",
        className: "mono",
        cell: (enrollment) => enrollment.id,
      },
      { label: "Attestation", cell: (enrollment) => enrollment.attestation.type },
      {
        label: "State",
        testId: "enrollment-state",
        cell: (enrollment) =>
          pill(enrollment.enabled ? "enabled" : "disabled", enrollment.enabled ? "ok" : "bad"),
      },
      { label: "Allocation", cell: (enrollment) => enrollment.allocationPolicy },
      { label: "Credential policy", cell: (enrollment) => enrollment.credentialPolicy ?? "–" },
      { label: "Updated", cell: (enrollment) => dateTime(enrollment.lastUpdatedDateTimeUtc) },
      {
        label: "Actions",
        cell: (enrollment) =>
          el("div", { className: "actions" }, [
            button(
              enrollment.enabled ? "Disable" : "Enable",
              act(() => api(path(enrollment), { method: "PATCH", json: { enabled: !enrollment.enabled } })),
              {
                class: "secondary",
                "aria-label": `${enrollment.enabled ? "Disable" : "Enable"} ${enrollment.id}`,
                "data-testid": "toggle-enrollment",
              },
            ),
            button(
              "Delete",
              act(() => api(path(enrollment), { method: "DELETE" })),
              {
                class: "danger",
                "aria-label": `Delete ${enrollment.id}`,
                "data-testid": "delete-enrollment",
              },
            ),
          ]),
      },
    ],
    enrollments,
    { empty: "None yet.", rowAttrs: (enrollment) => ({ "data-enrollment-id": enrollment.id }) },
  );
}

function createEnrollmentForm(reload) {
  const kind = field("Kind", "select", { id: "enrollment-kind" }, ["group", "individual"]);
  const id = field("Enrollment id (group name, or the registration id)", "input", {
    id: "enrollment-id",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
  });
  const attestation = field("Attestation", "select", { id: "enrollment-attestation" }, [
    "symmetricKey",
    "x509",
  ]);
  const x509 = field(
    "X.509: CA certificate name (group) or device certificate thumbprint (individual)",
    "input",
    { id: "enrollment-x509", autocomplete: "off", spellcheck: "false" },
  );
  const policy = field("ADR credential policy (optional: issues certificates for CSRs)", "input", {
    id: "enrollment-policy",
    autocomplete: "off",
    spellcheck: "false",
  });
  const result = outcome("enrollment-outcome");
  return form(
    "create an enrollment",
    [kind.node, id.node, attestation.node, x509.node, policy.node],
    "Create enrollment",
    async () => {
      const type = attestation.control.value;
      const given = x509.control.value.trim();
      const attestationBody =
        type === "symmetricKey"
          ? { type }
          : kind.control.value === "group"
            ? { type, caName: given }
            : { type, primaryThumbprint: given };
      const body = { attestation: attestationBody };
      if (policy.control.value.trim()) body.credentialPolicy = policy.control.value.trim();
      const path = `/admin/${SEGMENT[kind.control.value]}/${enc(id.control.value.trim())}`;
      // If-None-Match: * — create only, never replace an enrollment of the same id.
      await api(path, { method: "PUT", json: body, headers: { "if-none-match": "*" } });
      result.ok(`created ${kind.control.value} enrollment "${id.control.value.trim()}"`);
      await reload();
    },
    result,
  );
}

async function enrollmentsCard() {
  const groups = el("div");
  const individuals = el("div");
  const result = outcome("enrollments-outcome");
  const load = async () => {
    const [groupList, individualList] = await Promise.all([
      get("/admin/enrollment-groups"),
      get("/admin/individual-enrollments"),
    ]);
    groups.replaceChildren(enrollmentTable("group", groupList, load, result));
    individuals.replaceChildren(enrollmentTable("individual", individualList, load, result));
  };
  await load();
  return card(
    "Enrollments",
    [
      el("h3", { text: "Enrollment groups" }),
      groups,
      el("h3", { text: "Individual enrollments" }),
      individuals,
      result.node,
      createEnrollmentForm(load),
    ],
    { wide: true, testId: "enrollments-card" },
  );
}

async function registrationsCard() {
  const slot = el("div");
  const history = el("div");
  const load = async () => {
    const [registrations, events] = await Promise.all([
      get("/admin/registrations"),
      get("/admin/events?kind=registration.&limit=25"),
    ]);
    slot.replaceChildren(
      table(
        "registrations",
        [
          { label: "Registration", className: "mono", cell: (registration) => registration.registrationId },
          {
            label: "Status",
            cell: (registration) =>
              pill(
                registration.status,
                registration.status === "assigned"
                  ? "ok"
                  : registration.status === "assigning"
                    ? "warn"
                    : "bad",
              ),
          },
          { label: "Substatus", cell: (registration) => registration.substatus },
          { label: "Assigned hub", cell: (registration) => registration.assignedHub },
          {
            label: "Enrollment",
            cell: (registration) => `${registration.enrollmentKind}: ${registration.enrollmentId}`,
          },
          {
            label: "Registrations",
            className: "num",
            cell: (registration) => String(registration.registrationCount),
          },
          { label: "Updated", cell: (registration) => dateTime(registration.lastUpdatedDateTimeUtc) },
        ],
        registrations,
        {
          empty: "No registrations yet.",
          rowAttrs: (registration) => ({ "data-registration-id": registration.registrationId }),
        },
      ),
    );
    history.replaceChildren(
      table(
        "registration history",
        [
          { label: "Time", cell: (event) => time(event.at) },
          { label: "Event", cell: (event) => event.kind },
          { label: "Registration", className: "mono", cell: (event) => event.subject },
          {
            label: "Details",
            className: "mono",
            cell: (event) =>
              Object.entries(event.details)
                .map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : value}`)
                .join(" "),
          },
        ],
        [...events].reverse(),
        { empty: "No registration events yet." },
      ),
    );
  };
  await load();
  const refresh = debounce(load, 250);
  bus.on("audit", (event) => {
    if (event.kind.startsWith("registration.")) refresh();
  });
  return card("Registrations", [slot, el("h3", { text: "History" }), history], {
    wide: true,
    testId: "registrations-card",
  });
}

function popStatus(certificate) {
  if (certificate.properties.isVerified) return pill("verified", "ok");
  if (certificate.properties.verificationCode)
    return el("span", {}, [
      pill("pending proof", "warn"),
      el("span", { className: "mono", text: ` sign CN=${certificate.properties.verificationCode}` }),
    ]);
  return pill("unverified", "bad");
}

/** Upload a CA certificate; prove possession with a certificate for the verification code. */
function caForms(load, result) {
  const name = field("Certificate name", "input", {
    id: "ca-name",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
  });
  const pem = field("CA certificate (PEM)", "textarea", {
    id: "ca-pem",
    rows: 4,
    spellcheck: "false",
    required: true,
  });
  const upload = form(
    "upload a CA certificate",
    [name.node, pem.node],
    "Upload",
    async () => {
      await api(`/admin/certificates/${enc(name.control.value.trim())}`, {
        method: "PUT",
        json: { certificate: pem.control.value },
      });
      result.ok(
        `uploaded "${name.control.value.trim()}": get a verification code, then upload a certificate for it signed by the CA's key`,
      );
      await load();
    },
    result,
  );
  const verifyName = field("Certificate name to verify", "input", {
    id: "verify-name",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
  });
  const verifyPem = field(
    "Verification certificate (PEM, CN = the verification code, signed by the CA's key)",
    "textarea",
    { id: "verify-pem", rows: 4, spellcheck: "false", required: true },
  );
  const verify = form(
    "prove possession of a CA certificate",
    [verifyName.node, verifyPem.node],
    "Verify",
    async () => {
      const certificate = await get(`/admin/certificates/${enc(verifyName.control.value.trim())}`);
      await api(`/admin/certificates/${enc(certificate.name)}/verify`, {
        method: "POST",
        json: { certificate: verifyPem.control.value },
        headers: { "if-match": certificate.etag },
      });
      result.ok(`"${certificate.name}" verified`);
      await load();
    },
    result,
  );
  return { upload, verify };
}

async function certificatesCard() {
  const slot = el("div");
  const result = outcome("ca-outcome");
  const load = async () => {
    const certificates = await get("/admin/certificates");
    const act = (action) => async () => {
      try {
        await action();
        await load();
      } catch (error) {
        result.fail(error);
      }
    };
    const path = (certificate) => `/admin/certificates/${enc(certificate.name)}`;
    slot.replaceChildren(
      table(
        "CA certificates",
        [
          { label: "Name", className: "mono", cell: (certificate) => certificate.name },
          { label: "Subject", cell: (certificate) => certificate.properties.subject },
          { label: "Expiry", cell: (certificate) => dateTime(certificate.properties.expiry) },
          {
            label: "SHA-256 thumbprint",
            className: "mono",
            cell: (certificate) => certificate.properties.thumbprintSha256,
          },
          { label: "Proof of possession", testId: "pop-status", cell: popStatus },
          {
            label: "Actions",
            cell: (certificate) =>
              el("div", { className: "actions" }, [
                certificate.properties.isVerified
                  ? null
                  : button(
                      "Get verification code",
                      act(() =>
                        api(`${path(certificate)}/generate-verification-code`, {
                          method: "POST",
                          headers: { "if-match": certificate.etag },
                        }),
                      ),
                      { class: "secondary", "aria-label": `Get a verification code for ${certificate.name}` },
                    ),
                button(
                  "Delete",
                  act(() =>
                    api(path(certificate), { method: "DELETE", headers: { "if-match": certificate.etag } }),
                  ),
                  { class: "danger", "aria-label": `Delete ${certificate.name}` },
                ),
              ]),
          },
        ],
        certificates,
        {
          empty: "No CA certificates uploaded.",
          rowAttrs: (certificate) => ({ "data-ca-name": certificate.name }),
        },
      ),
    );
    return certificates;
  };
  await load();
  const { upload, verify } = caForms(load, result);
  return card(
    "CA certificates",
    [slot, result.node, el("div", { className: "form-row" }, [upload, verify])],
    { wide: true, testId: "ca-card" },
  );
}

export async function provisioningView() {
  return Promise.all([enrollmentsCard(), registrationsCard(), certificatesCard()]);
}
