// skittle-sim portal: plain ES modules, no dependencies, works offline. Hash routes pick a view; every view reads
// the admin API and follows the live event stream (/admin/stream, server-sent events) through `bus`.
import { adrView } from "./adr.js";
import { deviceView } from "./device.js";
import { devicesView } from "./devices.js";
import { eventsView } from "./events.js";
import { bus, el, get } from "./lib.js";
import { overviewView } from "./overview.js";
import { provisioningView } from "./provisioning.js";

const $ = (id) => document.getElementById(id);

/** `#/devices/{id}` and friends → the view to render. */
const ROUTES = [
  [/^#\/devices\/(.+)$/, (match) => deviceView(decodeURIComponent(match[1]))],
  [/^#\/devices$/, () => devicesView()],
  [/^#\/provisioning$/, () => provisioningView()],
  [/^#\/adr$/, () => adrView()],
  [/^#\/events$/, () => eventsView()],
  [/^(#\/?)?$/, () => overviewView()],
];

let rendering = 0;

async function render() {
  const hash = window.location.hash;
  const route = ROUTES.find(([pattern]) => pattern.test(hash)) ?? ROUTES.at(-1);
  const match = route[0].exec(hash) ?? [];
  const token = ++rendering;
  bus.clear();
  // The nav link of the view shown: its href is the start of the hash (the device pages belong to Devices).
  const section = hash.replace(/^#\/?/, "").split("/")[0];
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#/${section}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const view = $("view");
  view.dataset.ready = "false";
  try {
    const nodes = await route[1](match);
    if (token !== rendering) return;
    view.replaceChildren(...nodes);
    view.dataset.ready = "true";
  } catch (error) {
    if (token !== rendering) return;
    view.replaceChildren(
      el("section", { className: "card wide" }, [
        el("p", {
          className: "outcome bad",
          attrs: { role: "alert" },
          text: `Could not load this view: ${error.message}`,
        }),
      ]),
    );
    view.dataset.ready = "error";
  }
}

function connectStream() {
  const live = $("live");
  const source = new EventSource("/admin/stream?types=telemetry,connection,twin,audit");
  source.addEventListener("open", () => {
    live.dataset.state = "open";
    live.textContent = "live";
    bus.emit("open");
  });
  source.addEventListener("error", () => {
    live.dataset.state = "error";
    live.textContent = "reconnecting…";
  });
  for (const type of ["telemetry", "connection", "twin", "audit"]) {
    source.addEventListener(type, (event) => bus.emit(type, JSON.parse(event.data)));
  }
}

async function start() {
  const config = await get("/admin/config");
  $("id-scope").textContent = config.idScope ?? "–";
  $("dps-endpoint").textContent = config.dps?.endpoint ?? "–";
  $("hub-hostname").textContent = config.hubs?.[0]?.hostname ?? "–";
  $("adr-namespace").textContent = config.adr?.namespace ?? "–";
  window.addEventListener("hashchange", () => void render());
  connectStream();
  await render();
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  document.body.dataset.ready = "error";
  $("live").textContent = `error: ${error.message}`;
});
