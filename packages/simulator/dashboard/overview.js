// Telemetry view: messages per value of a property (counted by the API's summary) and the latest messages, live.
import { bus, card, debounce, el, enc, field, form, get, table, time } from "./lib.js";

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
const MAX_MESSAGES = 25;
const SVG = "http://www.w3.org/2000/svg";

let groupBy = "color";

function svgNode(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A bar chart of messages per value of the counted property. */
function drawChart(svg, summary) {
  const groups = summary.groups ?? [];
  const width = svg.clientWidth || 480;
  const height = 180;
  const top = 18;
  const bottom = 24;
  const max = Math.max(1, ...groups.map((item) => item.count));
  const slot = groups.length === 0 ? width : width / groups.length;
  const barWidth = Math.min(56, slot * 0.6);
  const nodes = [
    svgNode("line", { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, class: "axis" }),
  ];
  groups.forEach((item, index) => {
    const barHeight = ((height - top - bottom) * item.count) / max;
    const x = index * slot + (slot - barWidth) / 2;
    const center = x + barWidth / 2;
    const group = svgNode("g", { "data-value": item.value });
    group.append(
      svgNode("rect", {
        x,
        y: height - bottom - barHeight,
        width: barWidth,
        height: Math.max(1, barHeight),
        rx: 3,
        fill: NAMED_COLORS[String(item.value).toLowerCase()] ?? BAR_COLOR,
      }),
      svgNode(
        "text",
        { x: center, y: height - bottom - barHeight - 4, "text-anchor": "middle", class: "bar-count" },
        String(item.count),
      ),
      svgNode("text", { x: center, y: height - 6, "text-anchor": "middle" }, item.value),
    );
    nodes.push(group);
  });
  if (groups.length === 0) {
    nodes.push(
      svgNode(
        "text",
        { x: width / 2, y: height / 2, "text-anchor": "middle" },
        `no messages with "${groupBy}" yet`,
      ),
    );
  }
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren(...nodes);
}

/** The latest messages, newest first (device ids link to the device's page). */
export function telemetryTable(messages, options = {}) {
  return table(
    options.label ?? "recent telemetry",
    [
      { label: "Time", cell: (message) => time(message.enqueuedTime) },
      ...(options.withDevice === false
        ? []
        : [
            {
              label: "Device",
              className: "mono",
              cell: (message) =>
                el("a", { text: message.deviceId, attrs: { href: `#/devices/${enc(message.deviceId)}` } }),
            },
          ]),
      {
        label: "Properties",
        className: "mono",
        cell: (message) =>
          Object.entries(message.properties ?? {})
            .map(([key, value]) => `${key}=${value}`)
            .join(" "),
      },
      { label: "Body", className: "mono", cell: (message) => message.body },
    ],
    [...messages].reverse(),
    { empty: "No telemetry yet.", rowAttrs: (message) => ({ "data-message-id": message.id }) },
  );
}

export async function overviewView() {
  const summaryPath = () => `/admin/telemetry/summary?groupBy=${enc(groupBy)}`;
  let [messages, summary] = await Promise.all([
    get(`/admin/telemetry?limit=${MAX_MESSAGES}`),
    get(summaryPath()),
  ]);
  const svg = svgNode("svg", {
    id: "telemetry-chart",
    role: "img",
    "aria-label": "messages per value of the counted property",
    width: "100%",
    height: 180,
  });
  const total = el("span", { className: "count", id: "message-total" });
  const tableSlot = el("div");
  const redraw = () => {
    drawChart(svg, summary);
    total.textContent = `${summary.total} messages`;
  };
  const redrawTable = () => tableSlot.replaceChildren(telemetryTable(messages));
  const refreshSummary = debounce(async () => {
    summary = await get(summaryPath());
    redraw();
  }, 250);
  const group = field("Count messages by property", "input", {
    id: "group-by",
    value: groupBy,
    maxlength: 64,
    autocomplete: "off",
    spellcheck: "false",
  });
  const groupForm = form("count messages by property", [group.node], "Count", async () => {
    groupBy = group.control.value.trim() || "color";
    summary = await get(summaryPath());
    redraw();
  });
  groupForm.id = "group-by-form";
  groupForm.classList.add("inline");
  bus.on("telemetry", (message) => {
    if (messages.some((item) => item.id === message.id)) return;
    messages = [...messages, message].slice(-MAX_MESSAGES);
    redrawTable();
    refreshSummary();
  });
  bus.on("open", async () => {
    // Catch up on anything missed while disconnected.
    messages = await get(`/admin/telemetry?limit=${MAX_MESSAGES}`);
    redrawTable();
    refreshSummary();
  });
  redrawTable();
  const chartCard = card("Live telemetry", [groupForm, svg], { testId: "telemetry-chart-card" });
  chartCard.querySelector("h2").append(total);
  // Drawn once in the document, when the chart has its width.
  requestAnimationFrame(redraw);
  return [chartCard, card("Latest messages", [tableSlot], { testId: "telemetry-card", wide: true })];
}
