// skittle-sim dashboard: plain ES module, no dependencies. Reads the admin API and follows the live event
// stream (/admin/stream, server-sent events). Device data is only ever written with textContent.

/** Bar colours for values that name a colour (so the demo's skittles show in their colours); others get BAR_COLOR. */
const NAMED_COLORS = {
  red: "#e53935",
  orange: "#fb8c00",
  yellow: "#fdd835",
  green: "#43a047",
  purple: "#8e24aa",
  blue: "#1e88e5",
  none: "#9e9e9e",
};
const BAR_COLOR = "#607d8b";
const DEFAULT_GROUP_BY = "color";
const MAX_MESSAGES = 25;

const state = {
  devices: [],
  registrations: [],
  renewals: [],
  messages: [],
  summary: { total: 0, devices: [], groups: [] },
  groupBy: DEFAULT_GROUP_BY,
  selected: undefined,
};

const $ = (id) => document.getElementById(id);

/**
 * Shows or hides a table's empty-state line. Until the first load it says "Loading…" (set in the HTML);
 * the empty text replaces it only once data has arrived.
 */
function showEmpty(id, empty) {
  const node = $(id);
  if (node.dataset.loading === "true") {
    node.textContent = node.dataset.emptyText;
    delete node.dataset.loading;
  }
  node.hidden = !empty;
}

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { accept: "application/json", ...init.headers } });
  const text = await response.text();
  const body = text === "" ? undefined : JSON.parse(text);
  if (!response.ok) throw new Error(body?.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.text !== undefined) node.textContent = String(options.text);
  if (options.className) node.className = options.className;
  if (options.title) node.title = options.title;
  for (const [name, value] of Object.entries(options.attrs ?? {})) node.setAttribute(name, String(value));
  for (const child of children) node.append(child);
  return node;
}

function barColorOf(value) {
  return NAMED_COLORS[String(value).toLowerCase()] ?? BAR_COLOR;
}

/** The message's value of the counted property: the JSON body's member, else the application property. */
function groupValueOf(message) {
  if (message.bodyEncoding === "utf8") {
    try {
      const body = JSON.parse(message.body);
      const value = body?.[state.groupBy];
      if (value !== undefined && value !== null && typeof value !== "object") return String(value);
    } catch {
      // not JSON: fall back to the properties
    }
  }
  return message.properties?.[state.groupBy];
}

function summaryPath() {
  return `/admin/telemetry/summary?groupBy=${encodeURIComponent(state.groupBy)}`;
}

function time(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
}

function dateTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Runs `fn` at most once per `ms`, after the last call. */
function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      fn().catch((error) => console.warn(error));
    }, ms);
  };
}

// --- devices -------------------------------------------------------------------------------------

function renderDevices() {
  const body = $("devices").tBodies[0];
  body.replaceChildren(
    ...state.devices.map((device) => {
      const certificate = device.certificate;
      const days = certificate ? certificate.daysLeft : undefined;
      const connected = device.connectionState === "Connected";
      const row = el("tr", { attrs: { "data-device-id": device.deviceId, "data-testid": "device-row" } }, [
        el("td", { text: device.deviceId, className: "mono" }),
        el("td", {}, [
          el("span", {
            text: device.status,
            className: `pill ${device.status === "enabled" ? "ok" : "bad"}`,
          }),
        ]),
        el("td", { attrs: { "data-testid": "connection" } }, [
          el("span", {
            text: connected ? "● connected" : "○ disconnected",
            className: connected ? "ok" : "muted",
            title: device.connectionStateUpdatedTime
              ? `since ${dateTime(device.connectionStateUpdatedTime)}`
              : "",
          }),
        ]),
        el("td", { text: device.hub }),
        el("td", { text: device.authMethod ?? device.authentication?.type ?? "–" }),
        el("td", { text: certificate ? dateTime(certificate.notAfter) : "–" }),
        el("td", {
          text: days === undefined ? "–" : String(days),
          className: days === undefined ? "muted" : days < 0 ? "bad" : days < 7 ? "warn" : "ok",
          attrs: { "data-testid": "days-left" },
        }),
        el("td", {
          text: device.messageCount,
          className: "num messages",
          attrs: { "data-testid": "message-count" },
        }),
        el("td", { text: time(device.lastActivityTime) }),
      ]);
      if (device.deviceId === state.selected) row.setAttribute("aria-selected", "true");
      row.addEventListener("click", () => selectDevice(device.deviceId));
      return row;
    }),
  );
  showEmpty("devices-empty", state.devices.length === 0);
  $("device-count").textContent = String(state.devices.length);
}

async function loadDevices() {
  state.devices = await api("/admin/devices");
  renderDevices();
}

// --- registrations ----------------------------------------------------------------------------------

function renderRegistrations() {
  const recent = [...state.registrations]
    .sort((a, b) => String(b.lastUpdatedDateTimeUtc).localeCompare(String(a.lastUpdatedDateTimeUtc)))
    .slice(0, 10);
  $("registrations").tBodies[0].replaceChildren(
    ...recent.map((registration) =>
      el("tr", { attrs: { "data-registration-id": registration.registrationId } }, [
        el("td", { text: registration.registrationId, className: "mono" }),
        el("td", {}, [
          el("span", {
            text: registration.status,
            className: `pill ${registration.status === "assigned" ? "ok" : registration.status === "assigning" ? "warn" : "bad"}`,
          }),
        ]),
        el("td", { text: registration.substatus ?? "–" }),
        el("td", { text: registration.assignedHub ?? "–" }),
        el("td", { text: registration.enrollmentId }),
        el("td", {
          text: time(registration.lastUpdatedDateTimeUtc),
          title: dateTime(registration.lastUpdatedDateTimeUtc),
        }),
      ]),
    ),
  );
  showEmpty("registrations-empty", recent.length === 0);
}

async function loadRegistrations() {
  state.registrations = await api("/admin/registrations");
  renderRegistrations();
}

// --- certificate renewals through the hub -------------------------------------------------------------

const RENEWAL_PILLS = { issued: "ok", pending: "warn", cancelled: "warn" };

function renderRenewals() {
  const recent = state.renewals.slice(0, 10); // newest first already
  $("renewals").tBodies[0].replaceChildren(
    ...recent.map((renewal) =>
      el("tr", { attrs: { "data-request-id": renewal.requestId } }, [
        el("td", { text: renewal.deviceId, className: "mono" }),
        el("td", {}, [
          el("span", { text: renewal.state, className: `pill ${RENEWAL_PILLS[renewal.state] ?? "bad"}` }),
        ]),
        el("td", {
          text:
            renewal.status === undefined
              ? "202"
              : `${renewal.status}${renewal.errorCode ? ` (${renewal.errorCode})` : ""}`,
          title: renewal.message ?? "",
        }),
        el("td", { text: renewal.notAfter ? dateTime(renewal.notAfter) : "–" }),
        el("td", { text: time(renewal.requestedAt), title: dateTime(renewal.requestedAt) }),
      ]),
    ),
  );
  showEmpty("renewals-empty", recent.length === 0);
}

async function loadRenewals() {
  state.renewals = await api("/admin/renewals");
  renderRenewals();
}

// --- telemetry ---------------------------------------------------------------------------------------

function renderTelemetry() {
  $("telemetry").tBodies[0].replaceChildren(
    ...state.messages
      .slice(-MAX_MESSAGES)
      .reverse()
      .map((message) => {
        const properties = Object.entries(message.properties ?? {})
          .map(([key, value]) => `${key}=${value}`)
          .join(" ");
        return el("tr", { attrs: { "data-message-id": message.id } }, [
          el("td", { text: time(message.enqueuedTime) }),
          el("td", { text: message.deviceId, className: "mono" }),
          el("td", {}, groupCell(groupValueOf(message))),
          el("td", { text: properties || "–", className: "mono", title: properties }),
          el("td", { text: message.body, className: "mono", title: message.body }),
        ]);
      }),
  );
  showEmpty("telemetry-empty", state.messages.length === 0);
}

function groupCell(value) {
  if (value === undefined || value === "") return ["–"];
  const dot = el("span", { className: "swatch" });
  dot.style.background = barColorOf(value);
  return [dot, value];
}

/** A hand-drawn SVG bar chart of messages per value of the counted property. */
function renderChart() {
  const svg = $("telemetry-chart");
  const ns = "http://www.w3.org/2000/svg";
  const groups = state.summary.groups ?? [];
  const width = svg.clientWidth || 480;
  const height = 180;
  const top = 18;
  const bottom = 24;
  const max = Math.max(1, ...groups.map((item) => item.count));
  const slot = groups.length === 0 ? width : width / groups.length;
  const barWidth = Math.min(56, slot * 0.6);
  const nodes = [];
  const line = document.createElementNS(ns, "line");
  line.setAttribute("x1", "0");
  line.setAttribute("x2", String(width));
  line.setAttribute("y1", String(height - bottom));
  line.setAttribute("y2", String(height - bottom));
  line.setAttribute("class", "axis");
  nodes.push(line);
  groups.forEach((item, index) => {
    const barHeight = ((height - top - bottom) * item.count) / max;
    const x = index * slot + (slot - barWidth) / 2;
    const group = document.createElementNS(ns, "g");
    group.setAttribute("data-value", item.value);
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", String(x));
    rect.setAttribute("y", String(height - bottom - barHeight));
    rect.setAttribute("width", String(barWidth));
    rect.setAttribute("height", String(Math.max(1, barHeight)));
    rect.setAttribute("rx", "3");
    rect.setAttribute("fill", barColorOf(item.value));
    const count = document.createElementNS(ns, "text");
    count.setAttribute("x", String(x + barWidth / 2));
    count.setAttribute("y", String(height - bottom - barHeight - 4));
    count.setAttribute("text-anchor", "middle");
    count.setAttribute("class", "bar-count");
    count.textContent = String(item.count);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(x + barWidth / 2));
    label.setAttribute("y", String(height - 6));
    label.setAttribute("text-anchor", "middle");
    label.textContent = item.value;
    group.append(rect, count, label);
    nodes.push(group);
  });
  if (groups.length === 0) {
    const empty = document.createElementNS(ns, "text");
    empty.setAttribute("x", String(width / 2));
    empty.setAttribute("y", String(height / 2));
    empty.setAttribute("text-anchor", "middle");
    empty.textContent = `no messages with "${state.groupBy}" yet`;
    nodes.push(empty);
  }
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren(...nodes);
  $("message-total").textContent = `${state.summary.total} messages`;
}

async function loadTelemetry() {
  const [messages, summary] = await Promise.all([
    api(`/admin/telemetry?limit=${MAX_MESSAGES}`),
    api(summaryPath()),
  ]);
  const known = new Set(messages.map((message) => message.id));
  // Keep live messages that arrived while loading.
  state.messages = [...messages, ...state.messages.filter((message) => !known.has(message.id))]
    .sort((a, b) => a.id - b.id)
    .slice(-MAX_MESSAGES);
  state.summary = summary;
  renderTelemetry();
  renderChart();
}

async function loadSummary() {
  state.summary = await api(summaryPath());
  renderChart();
}

// --- twin ----------------------------------------------------------------------------------------

async function selectDevice(deviceId) {
  state.selected = deviceId;
  renderDevices();
  await loadTwin();
}

async function loadTwin() {
  if (state.selected === undefined) return;
  const twin = await api(`/admin/devices/${encodeURIComponent(state.selected)}/twin`);
  const strip = ({ $metadata, $version, ...rest }) => rest;
  $("twin").hidden = false;
  $("twin-device").textContent = state.selected;
  $("twin-desired").textContent = JSON.stringify(strip(twin.properties.desired), null, 2);
  $("twin-reported").textContent = JSON.stringify(strip(twin.properties.reported), null, 2);
  $("twin-desired-version").textContent = `v${twin.properties.desired.$version}`;
  $("twin-reported-version").textContent = `v${twin.properties.reported.$version}`;
}

$("desired-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = $("desired-result");
  try {
    const desired = JSON.parse($("desired-patch").value);
    await api(`/admin/devices/${encodeURIComponent(state.selected)}/twin`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ properties: { desired } }),
    });
    result.textContent = "updated";
    await loadTwin();
  } catch (error) {
    result.textContent = error.message;
  }
});

// --- live stream ---------------------------------------------------------------------------------------

const refreshDevices = debounce(loadDevices, 250);
const refreshSummary = debounce(loadSummary, 250);

$("group-by-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.groupBy = $("group-by").value.trim() || DEFAULT_GROUP_BY;
  $("group-by-heading").textContent = state.groupBy;
  renderTelemetry();
  refreshSummary();
});
const refreshRegistrations = debounce(loadRegistrations, 250);
const refreshRenewals = debounce(loadRenewals, 250);
const refreshTwin = debounce(loadTwin, 250);

function connectStream() {
  const live = $("live");
  const source = new EventSource("/admin/stream?types=telemetry,connection,twin,audit");
  source.addEventListener("open", () => {
    live.dataset.state = "open";
    live.textContent = "live";
    // Catch up on anything missed while disconnected.
    Promise.all([loadDevices(), loadTelemetry(), loadRegistrations(), loadRenewals()]).catch((error) =>
      console.warn(error),
    );
  });
  source.addEventListener("error", () => {
    live.dataset.state = "error";
    live.textContent = "reconnecting…";
  });
  source.addEventListener("telemetry", (event) => {
    const message = JSON.parse(event.data);
    if (!state.messages.some((item) => item.id === message.id)) {
      state.messages.push(message);
      state.messages = state.messages.slice(-MAX_MESSAGES);
      renderTelemetry();
    }
    refreshDevices();
    refreshSummary();
  });
  source.addEventListener("connection", () => refreshDevices());
  source.addEventListener("twin", (event) => {
    if (JSON.parse(event.data).deviceId === state.selected) refreshTwin();
  });
  source.addEventListener("audit", (event) => {
    const kind = JSON.parse(event.data).kind;
    if (kind.startsWith("registration.") || kind.startsWith("adr.")) {
      refreshRegistrations();
      refreshDevices();
    }
    if (kind.startsWith("hub.certificate")) {
      refreshRenewals();
      refreshDevices();
    }
  });
}

async function start() {
  const config = await api("/admin/config");
  $("id-scope").textContent = config.idScope ?? "–";
  $("dps-endpoint").textContent = config.dps?.endpoint ?? "–";
  $("hub-hostname").textContent = config.hubs?.[0]?.hostname ?? "–";
  $("adr-namespace").textContent = config.adr?.namespace ?? "–";
  await Promise.all([loadDevices(), loadRegistrations(), loadRenewals(), loadTelemetry()]);
  connectStream();
  // Days left and "last activity" age: refresh now and then even without events.
  setInterval(() => {
    loadDevices().catch((error) => console.warn(error));
  }, 30_000);
  window.addEventListener("resize", renderChart);
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  document.body.dataset.ready = "error";
  $("live").textContent = `error: ${error.message}`;
});
