// ADR view: the namespace, its credential policies, the certificates they issued, and renewals.
import { bus, card, dateTime, debounce, el, enc, get, table } from "./lib.js";

function namespaceCard(adr) {
  const entries = [
    ["Namespace", adr.namespace],
    ["Subscription", adr.subscriptionId],
    ["Resource group", adr.resourceGroup],
    ["ARM id", adr.namespaceId],
    ["REST endpoint", adr.baseUrl],
    ["API version", adr.apiVersion],
  ];
  return card(
    "Namespace",
    [
      el(
        "dl",
        { className: "facts-list", attrs: { "data-testid": "namespace" } },
        entries.map(([term, value]) =>
          el("div", {}, [el("dt", { text: term }), el("dd", { className: "mono", text: value ?? "–" })]),
        ),
      ),
    ],
    { testId: "namespace-card" },
  );
}

function policiesCard(policies) {
  return card(
    "Credential policies",
    [
      table(
        "credential policies",
        [
          { label: "Policy", className: "mono", cell: (policy) => policy.name },
          { label: "Validity (days)", className: "num", cell: (policy) => String(policy.validityDays) },
          { label: "Key type", cell: (policy) => policy.keyType },
          { label: "Issuing CA SHA-256", className: "mono", cell: (policy) => policy.issuingCaThumbprint },
          { label: "Created", cell: (policy) => dateTime(policy.created) },
        ],
        policies,
        { empty: "No credential policies.", rowAttrs: (policy) => ({ "data-policy": policy.name }) },
      ),
    ],
    { testId: "policies-card" },
  );
}

function issuedTable(certificates) {
  return table(
    "issued certificates",
    [
      {
        label: "Device",
        className: "mono",
        cell: (certificate) =>
          el("a", { text: certificate.deviceId, attrs: { href: `#/devices/${enc(certificate.deviceId)}` } }),
      },
      { label: "Policy", cell: (certificate) => certificate.policy },
      { label: "Serial", className: "mono", cell: (certificate) => certificate.serialNumber },
      { label: "Not before", cell: (certificate) => dateTime(certificate.notBefore) },
      { label: "Not after", cell: (certificate) => dateTime(certificate.notAfter) },
      { label: "Key", cell: (certificate) => certificate.keyType },
    ],
    [...certificates].reverse(),
    {
      empty: "No certificates issued yet (devices get one when they send a CSR).",
      rowAttrs: (certificate) => ({ "data-serial": certificate.serialNumber }),
    },
  );
}

const RENEWAL_PILLS = { issued: "ok", pending: "warn", cancelled: "warn" };

/** Certificate renewals through the hub (`/admin/renewals`, newest first), with the hub's answer. */
function renewalsTable(renewals) {
  return table(
    "certificate renewals through the hub",
    [
      { label: "Device", className: "mono", cell: (renewal) => renewal.deviceId },
      {
        label: "State",
        cell: (renewal) =>
          el("span", { text: renewal.state, className: `pill ${RENEWAL_PILLS[renewal.state] ?? "bad"}` }),
      },
      {
        label: "Answer",
        cell: (renewal) =>
          renewal.status === undefined
            ? "202"
            : `${renewal.status}${renewal.errorCode ? ` (${renewal.errorCode})` : ""}`,
      },
      { label: "Not after", cell: (renewal) => dateTime(renewal.notAfter) },
      { label: "Requested", cell: (renewal) => dateTime(renewal.requestedAt) },
    ],
    renewals.slice(0, 50),
    { empty: "No renewals yet.", rowAttrs: (renewal) => ({ "data-request-id": renewal.requestId }) },
  );
}

export async function adrView() {
  const [config, policies] = await Promise.all([get("/admin/config"), get("/admin/adr/policies")]);
  const issuedSlot = el("div");
  const renewalsSlot = el("div");
  const load = async () => {
    const [issued, renewals] = await Promise.all([get("/admin/issued-certificates"), get("/admin/renewals")]);
    issuedSlot.replaceChildren(issuedTable(issued));
    renewalsSlot.replaceChildren(renewalsTable(renewals));
  };
  await load();
  const refresh = debounce(load, 250);
  bus.on("audit", (event) => {
    if (/renew|certificate|registration\./i.test(event.kind)) refresh();
  });
  return [
    namespaceCard(config.adr ?? {}),
    policiesCard(policies),
    card("Issued certificates", [issuedSlot], { wide: true, testId: "issued-card" }),
    card("Renewals", [renewalsSlot], { wide: true, testId: "renewals-card" }),
  ];
}
