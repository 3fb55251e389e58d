// Live events view: connects, disconnects, registrations, renewals, method calls, C2D completions… as the
// simulator records them (its audit events), newest first, following the live stream.
import { bus, card, dateTime, el, field, get, table } from "./lib.js";

const MAX_EVENTS = 100;

/** What the filter offers, as the kind fragments the admin API matches (`/admin/events?kind=`). */
const FILTERS = {
  everything: [],
  connections: ["hub.connected", "hub.disconnected", "hub.connectionRefused"],
  registrations: ["registration."],
  renewals: ["renew"],
  "method calls": ["method"],
  "cloud-to-device": ["c2d", "cloudToDevice"],
};

let chosen = "everything";

function detailsText(details) {
  return Object.entries(details)
    .map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" ");
}

export async function eventsView() {
  const slot = el("div");
  let events = [];
  const draw = () => {
    slot.replaceChildren(
      table(
        "live events",
        [
          { label: "Time", cell: (event) => dateTime(event.at) },
          { label: "Event", cell: (event) => event.kind },
          { label: "Subject", className: "mono", cell: (event) => event.subject },
          { label: "Details", className: "mono", cell: (event) => detailsText(event.details) },
        ],
        [...events].reverse(),
        {
          empty: "No events of this kind yet.",
          rowAttrs: (event) => ({ "data-event-id": event.id, "data-kind": event.kind }),
        },
      ),
    );
  };
  const load = async () => {
    const kinds = FILTERS[chosen];
    events = await get(
      `/admin/events?limit=${MAX_EVENTS}${kinds.length === 0 ? "" : `&kind=${encodeURIComponent(kinds.join(","))}`}`,
    );
    draw();
  };
  const filter = field("Show", "select", { id: "event-filter", value: chosen }, Object.keys(FILTERS));
  filter.control.addEventListener("change", () => {
    chosen = filter.control.value;
    void load();
  });
  bus.on("audit", (event) => {
    const kinds = FILTERS[chosen];
    if (kinds.length > 0 && !kinds.some((kind) => event.kind.includes(kind))) return;
    if (events.some((item) => item.id === event.id)) return;
    events = [...events, event].slice(-MAX_EVENTS);
    draw();
  });
  bus.on("open", () => void load());
  await load();
  return [card("Live events", [filter.node, slot], { wide: true, testId: "events-card" })];
}
