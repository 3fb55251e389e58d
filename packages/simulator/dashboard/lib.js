// Shared helpers of the dashboard's views: the admin API, DOM building (data only ever goes in as text), cards,
// tables, labelled form fields and the live event bus. Presentation only: anything computed comes from the API.

/** An admin API error as the API words it (its `error.code` and `error.message`). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the admin API (same origin, JSON); non-2xx answers throw {@link ApiError} with the API's message. */
export async function api(path, init = {}) {
  const headers = { accept: "application/json", ...init.headers };
  const request = { ...init, headers };
  if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    request.body = JSON.stringify(init.json);
    delete request.json;
  }
  const response = await fetch(path, request);
  const text = await response.text();
  let body;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  if (!response.ok) {
    const error = body?.error;
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `${init.method ?? "GET"} ${path} answered ${response.status} ${response.statusText}`,
    );
  }
  return { body, headers: response.headers };
}

/** `api(…)`'s body only. */
export async function get(path) {
  return (await api(path)).body;
}

export const enc = encodeURIComponent;

export function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
  if (options.className) node.className = options.className;
  if (options.title) node.title = options.title;
  if (options.id) node.id = options.id;
  for (const [name, value] of Object.entries(options.attrs ?? {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  for (const [name, handler] of Object.entries(options.on ?? {})) node.addEventListener(name, handler);
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}

export function time(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
}

export function dateTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A card: a titled section of a view. `testId` names it for the browser test. */
export function card(title, children, options = {}) {
  const heading = el("h2", { text: title }, [
    options.count ? el("span", { className: "count", text: options.count }) : null,
  ]);
  return el(
    "section",
    {
      className: `card${options.wide ? " wide" : ""}`,
      attrs: { "data-testid": options.testId, "aria-label": title },
    },
    [heading, ...children],
  );
}

export function pill(text, tone) {
  return el("span", { text, className: `pill ${tone}` });
}

/**
 * A table of `rows` with `columns` ({ label, cell(row) → string | Node, className?, testId? }). Cells carry their
 * column label (`data-label`) so narrow screens can show each row as a labelled block.
 */
export function table(label, columns, rows, options = {}) {
  const head = el("thead", {}, [
    el(
      "tr",
      {},
      columns.map((column) =>
        el("th", { text: column.label, attrs: { scope: "col" }, className: column.className }),
      ),
    ),
  ]);
  const body = el(
    "tbody",
    {},
    rows.map((row) =>
      el(
        "tr",
        { attrs: options.rowAttrs?.(row) ?? {} },
        columns.map((column) => {
          const value = column.cell(row);
          const cell = el("td", {
            className: column.className,
            attrs: { "data-label": column.label, "data-testid": column.testId },
          });
          if (value instanceof Node) cell.append(value);
          else {
            cell.textContent = value === undefined || value === null || value === "" ? "–" : String(value);
            cell.title = cell.textContent;
          }
          return cell;
        }),
      ),
    ),
  );
  const wrap = el("div", { className: "table-wrap" }, [
    el("table", { attrs: { "aria-label": label } }, [head, body]),
  ]);
  if (rows.length === 0) wrap.append(el("p", { className: "empty", text: options.empty ?? "Nothing yet." }));
  return wrap;
}

/** Pretty JSON in a block that wraps inside its card. */
export function json(value, testId) {
  return el("pre", {
    className: "json",
    text: JSON.stringify(value, null, 2),
    attrs: { "data-testid": testId, tabindex: 0 },
  });
}

let fieldCount = 0;

/** A labelled input (`kind` "input", "textarea" or "select"); every field gets an id and a <label for>. */
export function field(label, kind = "input", attrs = {}, options = []) {
  const id = attrs.id ?? `field-${++fieldCount}`;
  const control = el(kind, { id, attrs: { ...attrs, id: undefined } });
  for (const option of options) control.append(el("option", { text: option, attrs: { value: option } }));
  if (attrs.value !== undefined && kind !== "input") control.value = attrs.value;
  return {
    control,
    node: el("div", { className: "field" }, [el("label", { text: label, attrs: { for: id } }), control]),
  };
}

/** A live region for the outcome of an action: API errors are shown as the API words them. */
export function outcome(testId) {
  const node = el("p", {
    className: "outcome",
    attrs: { role: "status", "aria-live": "polite", "data-testid": testId },
  });
  return {
    node,
    ok(text) {
      node.className = "outcome ok";
      node.textContent = text;
    },
    fail(error) {
      node.className = "outcome bad";
      node.textContent =
        error instanceof ApiError ? `${error.code}: ${error.message}` : String(error.message ?? error);
    },
  };
}

/** A form whose submit runs `action` (errors go to `result`). */
export function form(label, fields, buttonText, action, result) {
  const node = el("form", { attrs: { "aria-label": label } }, [
    ...fields,
    el("button", { text: buttonText, attrs: { type: "submit" } }),
    result?.node,
  ]);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await action();
    } catch (error) {
      if (result) result.fail(error);
      else console.warn(error);
    }
  });
  return node;
}

export function button(text, onClick, attrs = {}) {
  return el("button", { text, attrs: { type: "button", ...attrs }, on: { click: onClick } });
}

/** Runs `fn` at most once per `ms`, after the last call. */
export function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      Promise.resolve(fn()).catch((error) => console.warn(error));
    }, ms);
  };
}

/** The live stream's events, for the current view: `on(type, listener)`; `clear()` when the view changes. */
export const bus = {
  listeners: new Map(),
  on(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(listener);
  },
  emit(type, data) {
    for (const listener of this.listeners.get(type) ?? []) listener(data);
  },
  clear() {
    this.listeners.clear();
  },
};
