// One device's page (#/devices/{id}): identity and auth, certificate, twin, direct method, C2D, telemetry and
// connection history.
import { connectionCell, statusButton } from "./devices.js";
import {
  api,
  bus,
  card,
  dateTime,
  debounce,
  el,
  enc,
  field,
  form,
  get,
  json,
  outcome,
  pill,
  table,
  time,
} from "./lib.js";
import { telemetryTable } from "./overview.js";

const CONNECTION_KINDS = "hub.connected,hub.disconnected,hub.connectionRefused";

/** Sends a cloud-to-device message through the admin API (`POST /admin/devices/{deviceId}/messages`). */
export function sendCloudToDevice(device, message) {
  return api(`/admin/devices/${enc(device.deviceId)}/messages`, { method: "POST", json: message });
}

const C2D_TONES = { completed: "ok", enqueued: "warn", invisible: "warn" };

/** The device's cloud-to-device messages, newest first, with their state (completed, dead-lettered…). */
function cloudToDeviceTable(deviceId, messages) {
  return table(
    `cloud-to-device messages of ${deviceId}`,
    [
      { label: "Message id", className: "mono", cell: (message) => message.messageId },
      { label: "State", cell: (message) => pill(message.state, C2D_TONES[message.state] ?? "bad") },
      { label: "Deliveries", cell: (message) => message.deliveryCount },
      { label: "Enqueued", cell: (message) => dateTime(message.enqueuedTime) },
      {
        label: "Done",
        cell: (message) =>
          message.completedTime
            ? dateTime(message.completedTime)
            : message.deadLetteredTime
              ? `${dateTime(message.deadLetteredTime)} (${message.deadLetterReason})`
              : "–",
      },
    ],
    [...messages].reverse(),
    {
      empty: "No cloud-to-device messages yet.",
      rowAttrs: (message) => ({ "data-message-id": message.messageId ?? "", "data-state": message.state }),
    },
  );
}

function facts(testId, entries) {
  return el(
    "dl",
    { className: "facts-list", attrs: { "data-testid": testId } },
    entries.map(([term, value]) =>
      el("div", {}, [
        el("dt", { text: term }),
        el("dd", { className: "mono" }, [
          value instanceof Node ? value : document.createTextNode(value ?? "–"),
        ]),
      ]),
    ),
  );
}

function identityCard(device, reload) {
  const result = outcome("status-outcome");
  return card(
    "Identity and authentication",
    [
      facts("identity", [
        ["Device id", device.deviceId],
        ["Hub", device.hub],
        ["Status", pill(device.status, device.status === "enabled" ? "ok" : "bad")],
        ["Authentication", device.authType],
        ["Connection", connectionCell(device)],
        ["Connected with", device.authMethod ?? "–"],
        ["Subscriptions", device.subscriptions.join(", ") || "–"],
        ["Registration id", device.registrationId],
        ["ADR device", device.adrDeviceName ?? "–"],
        ["Created", dateTime(device.created)],
      ]),
      statusButton(device, reload, result),
      result.node,
    ],
    { testId: "identity-card" },
  );
}

function certificateCard(device) {
  const certificate = device.certificate;
  if (!certificate)
    return card(
      "Certificate",
      [
        el("p", {
          className: "empty",
          text: "No certificate issued to this device (it did not send a CSR).",
        }),
      ],
      { testId: "certificate-card" },
    );
  const tone = certificate.daysLeft < 0 ? "bad" : certificate.daysLeft < 7 ? "warn" : "ok";
  return card(
    "Certificate",
    [
      facts("certificate", [
        ["Subject", certificate.subject],
        ["Serial number", certificate.serialNumber],
        ["SHA-256 thumbprint", certificate.sha256Thumbprint],
        ["Not before", dateTime(certificate.notBefore)],
        ["Not after", dateTime(certificate.notAfter)],
        [
          "Days left",
          el("span", { className: tone, text: certificate.daysLeft, attrs: { "data-testid": "days-left" } }),
        ],
      ]),
    ],
    { testId: "certificate-card" },
  );
}

async function twinCard(deviceId) {
  const slot = el("div", { className: "twin-columns" });
  const etag = el("span", { className: "count", attrs: { "data-testid": "twin-etag" } });
  const patch = field("Desired properties patch (JSON merge patch)", "textarea", {
    id: "desired-patch",
    rows: 3,
    spellcheck: "false",
    value: '{"telemetryInterval": 3000}',
  });
  const sendEtag = field("If-Match etag (empty: overwrite whatever changed)", "input", {
    id: "desired-etag",
    autocomplete: "off",
    spellcheck: "false",
  });
  const result = outcome("desired-outcome");
  const load = async () => {
    const twin = await get(`/admin/devices/${enc(deviceId)}/twin`);
    const { $metadata: _d, $version: desiredVersion, ...desired } = twin.properties.desired;
    const { $metadata: _r, $version: reportedVersion, ...reported } = twin.properties.reported;
    etag.textContent = `etag ${twin.etag}`;
    sendEtag.control.value = twin.etag;
    slot.replaceChildren(
      el("div", { className: "column" }, [
        el("h3", { text: `Desired v${desiredVersion}`, attrs: { "data-testid": "desired-version" } }),
        json(desired, "twin-desired"),
      ]),
      el("div", { className: "column" }, [
        el("h3", { text: `Reported v${reportedVersion}`, attrs: { "data-testid": "reported-version" } }),
        json(reported, "twin-reported"),
      ]),
    );
  };
  await load();
  const refresh = debounce(load, 200);
  bus.on("twin", (event) => {
    if (event.deviceId === deviceId) refresh();
  });
  const patchForm = form(
    "update desired properties",
    [patch.node, sendEtag.node],
    "Update desired",
    async () => {
      const desired = JSON.parse(patch.control.value);
      const ifMatch = sendEtag.control.value.trim();
      const { body } = await api(`/admin/devices/${enc(deviceId)}/twin`, {
        method: "PATCH",
        json: { properties: { desired } },
        headers: ifMatch === "" ? {} : { "if-match": `"${ifMatch}"` },
      });
      result.ok(`updated: desired v${body.properties.desired.$version}`);
      await load();
    },
    result,
  );
  const node = card("Twin", [slot, patchForm], { wide: true, testId: "twin-card" });
  node.querySelector("h2").append(etag);
  return node;
}

function methodCard(deviceId) {
  const name = field("Method name", "input", {
    id: "method-name",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
  });
  const payload = field("Payload (JSON)", "textarea", {
    id: "method-payload",
    rows: 3,
    spellcheck: "false",
    value: "{}",
  });
  const timeout = field("Response timeout (seconds, 5–300)", "input", {
    id: "method-timeout",
    type: "number",
    min: 5,
    max: 300,
    value: 30,
  });
  const result = outcome("method-outcome");
  const answer = el("div", { attrs: { "data-testid": "method-response" } });
  const invoke = form(
    "invoke a direct method",
    [name.node, payload.node, timeout.node],
    "Invoke",
    async () => {
      answer.replaceChildren();
      result.ok("waiting for the device…");
      const { body } = await api(`/admin/devices/${enc(deviceId)}/methods`, {
        method: "POST",
        json: {
          methodName: name.control.value.trim(),
          payload: JSON.parse(payload.control.value || "null"),
          responseTimeoutInSeconds: Number(timeout.control.value),
        },
      });
      result.ok(`status ${body.status}`);
      answer.replaceChildren(json(body.payload, "method-payload-response"));
    },
    result,
  );
  return card("Direct method", [invoke, answer], { testId: "method-card" });
}

function cloudToDeviceCard(device) {
  const body = field("Body", "textarea", {
    id: "c2d-body",
    rows: 3,
    spellcheck: "false",
    value: '{"command": "blink"}',
  });
  const properties = field("Application properties (JSON object of strings)", "textarea", {
    id: "c2d-properties",
    rows: 2,
    spellcheck: "false",
    value: "{}",
  });
  const messageId = field("Message id (optional)", "input", { id: "c2d-message-id", autocomplete: "off" });
  const correlationId = field("Correlation id (optional)", "input", {
    id: "c2d-correlation-id",
    autocomplete: "off",
  });
  const ttl = field("Time to live (seconds, optional)", "input", { id: "c2d-ttl", type: "number", min: 1 });
  const result = outcome("c2d-outcome");
  const send = form(
    "send a cloud-to-device message",
    [body.node, properties.node, messageId.node, correlationId.node, ttl.node],
    "Send",
    async () => {
      const message = { body: body.control.value, properties: JSON.parse(properties.control.value || "{}") };
      if (messageId.control.value.trim()) message.messageId = messageId.control.value.trim();
      if (correlationId.control.value.trim()) message.correlationId = correlationId.control.value.trim();
      if (ttl.control.value) message.ttlSeconds = Number(ttl.control.value);
      const { body: answer } = await sendCloudToDevice(device, message);
      result.ok(`sent${answer?.messageId ? `: message ${answer.messageId}` : ""}`);
      refresh();
    },
    result,
  );
  const slot = el("div", { attrs: { "data-testid": "c2d-messages" } });
  const load = async () => {
    slot.replaceChildren(
      cloudToDeviceTable(device.deviceId, await get(`/admin/devices/${enc(device.deviceId)}/messages`)),
    );
  };
  const refresh = debounce(load, 150);
  refresh();
  bus.on("audit", (event) => {
    if (event.subject === device.deviceId && /c2d/i.test(event.kind)) refresh();
  });
  return card("Cloud-to-device messages", [send, slot], { testId: "c2d-card" });
}

async function telemetryCard(deviceId) {
  const slot = el("div");
  let messages = await get(`/admin/telemetry?device=${enc(deviceId)}&limit=25`);
  const draw = () =>
    slot.replaceChildren(telemetryTable(messages, { withDevice: false, label: `telemetry of ${deviceId}` }));
  draw();
  bus.on("telemetry", (message) => {
    if (message.deviceId !== deviceId || messages.some((item) => item.id === message.id)) return;
    messages = [...messages, message].slice(-25);
    draw();
  });
  return card("Telemetry", [slot], { wide: true, testId: "device-telemetry-card" });
}

async function connectionsCard(deviceId) {
  const slot = el("div");
  const load = async () => {
    const events = await get(`/admin/events?subject=${enc(deviceId)}&kind=${CONNECTION_KINDS}&limit=50`);
    slot.replaceChildren(
      table(
        `connection history of ${deviceId}`,
        [
          { label: "Time", cell: (event) => dateTime(event.at) },
          { label: "Event", cell: (event) => event.kind.replace(/^hub\./, "") },
          {
            label: "Details",
            className: "mono",
            cell: (event) =>
              Object.entries(event.details)
                .map(([key, value]) => `${key}=${value}`)
                .join(" "),
          },
        ],
        [...events].reverse(),
        { empty: "Never connected.", rowAttrs: (event) => ({ "data-kind": event.kind }) },
      ),
    );
  };
  await load();
  const refresh = debounce(load, 200);
  bus.on("connection", (event) => {
    if (event.deviceId === deviceId) refresh();
  });
  return card("Connection history", [slot], { testId: "connections-card" });
}

export async function deviceView(deviceId) {
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const device = await get(`/admin/devices/${enc(deviceId)}`);
  const [twin, telemetry, connections] = await Promise.all([
    twinCard(deviceId),
    telemetryCard(deviceId),
    connectionsCard(deviceId),
  ]);
  const title = el("section", { className: "card wide title-card" }, [
    el("p", {}, [el("a", { text: "← All devices", attrs: { href: "#/devices" } })]),
    el("h2", { text: deviceId, className: "mono", attrs: { "data-testid": "device-title" } }),
    el("p", {
      className: "muted",
      text: `last activity ${time(device.lastActivityTime)} · ${device.messageCount} messages`,
    }),
  ]);
  return [
    title,
    identityCard(device, reload),
    certificateCard(device),
    twin,
    methodCard(deviceId),
    cloudToDeviceCard(device),
    telemetry,
    connections,
  ];
}
