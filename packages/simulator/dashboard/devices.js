// Devices view: search by id, server-side paging, enable/disable; each id links to the device's page.
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
  outcome,
  pill,
  table,
  time,
} from "./lib.js";

const PAGE_SIZE = 20;
const state = { search: "", offset: 0 };

/** Tone of a certificate's days left, as the API counted them. */
function daysTone(days) {
  return days < 0 ? "bad" : days < 7 ? "warn" : "ok";
}

export function connectionCell(device) {
  const connected = device.connectionState === "Connected";
  return el("span", {
    text: connected ? "● connected" : "○ disconnected",
    className: connected ? "ok" : "muted",
    title: device.connectionStateUpdatedTime ? `since ${dateTime(device.connectionStateUpdatedTime)}` : "",
  });
}

export function statusButton(device, after, result) {
  const enabled = device.status === "enabled";
  return button(
    enabled ? "Disable" : "Enable",
    async () => {
      try {
        await api(`/admin/devices/${enc(device.deviceId)}`, {
          method: "PATCH",
          json: { status: enabled ? "disabled" : "enabled" },
        });
        await after();
      } catch (error) {
        result.fail(error);
      }
    },
    {
      "data-testid": "toggle-status",
      "aria-label": `${enabled ? "Disable" : "Enable"} ${device.deviceId}`,
      class: "secondary",
    },
  );
}

/** The devices table's columns; the actions reload the page of devices through `load`. */
function deviceColumns(load, result) {
  return [
    {
      label: "Device",
      className: "mono",
      cell: (device) =>
        el("a", { text: device.deviceId, attrs: { href: `#/devices/${enc(device.deviceId)}` } }),
    },
    {
      label: "Status",
      cell: (device) => pill(device.status, device.status === "enabled" ? "ok" : "bad"),
    },
    { label: "Connection", testId: "connection", cell: connectionCell },
    { label: "Auth", testId: "auth", cell: (device) => device.authType },
    {
      label: "Certificate not after",
      cell: (device) => (device.certificate ? dateTime(device.certificate.notAfter) : "–"),
    },
    {
      label: "Days left",
      testId: "days-left",
      cell: (device) =>
        device.certificate
          ? el("span", {
              text: device.certificate.daysLeft,
              className: daysTone(device.certificate.daysLeft),
            })
          : "–",
    },
    {
      label: "Messages",
      className: "num",
      testId: "message-count",
      cell: (device) => String(device.messageCount),
    },
    { label: "Last activity", cell: (device) => time(device.lastActivityTime) },
    { label: "Actions", cell: (device) => statusButton(device, load, result) },
  ];
}

export async function devicesView() {
  const slot = el("div");
  const pager = el("div", { className: "pager" });
  const result = outcome("devices-outcome");
  const count = el("span", { className: "count", id: "device-count" });
  const load = async () => {
    const query = `search=${enc(state.search)}&limit=${PAGE_SIZE}&offset=${state.offset}`;
    const { body: devices, headers } = await api(`/admin/devices?${query}`);
    const total = Number(headers.get("x-total-count") ?? devices.length);
    count.textContent = String(total);
    slot.replaceChildren(
      table("devices", deviceColumns(load, result), devices, {
        empty:
          state.search === ""
            ? "No devices yet: provision one through DPS."
            : `No device id contains "${state.search}".`,
        rowAttrs: (device) => ({ "data-device-id": device.deviceId, "data-testid": "device-row" }),
      }),
    );
    const last = Math.min(total, state.offset + devices.length);
    pager.replaceChildren(
      button(
        "Previous",
        () => {
          state.offset = Math.max(0, state.offset - PAGE_SIZE);
          void load();
        },
        { disabled: state.offset === 0, "data-testid": "previous-page", class: "secondary" },
      ),
      el("span", {
        text: total === 0 ? "0 devices" : `${state.offset + 1}–${last} of ${total}`,
        attrs: { "data-testid": "page-range", role: "status" },
      }),
      button(
        "Next",
        () => {
          state.offset += PAGE_SIZE;
          void load();
        },
        { disabled: last >= total, "data-testid": "next-page", class: "secondary" },
      ),
    );
  };
  const search = field("Search device ids", "input", {
    id: "device-search",
    type: "search",
    value: state.search,
    autocomplete: "off",
    spellcheck: "false",
  });
  const searchNow = debounce(() => {
    state.search = search.control.value.trim();
    state.offset = 0;
    return load();
  }, 200);
  search.control.addEventListener("input", searchNow);
  await load();
  const refresh = debounce(load, 300);
  bus.on("connection", refresh);
  bus.on("telemetry", refresh);
  bus.on("audit", (event) => {
    if (/^(registration|adr|hub)\./.test(event.kind)) refresh();
  });
  const devicesCard = card("Devices", [search.node, slot, pager, result.node], {
    wide: true,
    testId: "devices-card",
  });
  devicesCard.querySelector("h2").append(count);
  return [devicesCard];
}
