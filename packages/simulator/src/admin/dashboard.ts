import { readFile } from "node:fs/promises";
import type { Router } from "../net/http.ts";

const FILES = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "lib.js": "text/javascript; charset=utf-8",
  "overview.js": "text/javascript; charset=utf-8",
  "devices.js": "text/javascript; charset=utf-8",
  "device.js": "text/javascript; charset=utf-8",
  "provisioning.js": "text/javascript; charset=utf-8",
  "adr.js": "text/javascript; charset=utf-8",
  "events.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
} as const;

/** Everything the page loads comes from this server: no CDN, works offline. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache",
};

/**
 * Serves the dashboard (static HTML/JS/CSS shipped in the package's `dashboard/` folder) at `/dashboard/`;
 * `/` redirects there. The page reads the admin API and its live event stream.
 */
export async function registerDashboardRoutes(router: Router): Promise<void> {
  const folder = new URL("../../dashboard/", import.meta.url);
  const files = new Map<string, { type: string; data: Buffer }>();
  for (const [name, type] of Object.entries(FILES)) {
    files.set(name, { type, data: await readFile(new URL(name, folder)) });
  }
  const serve = (name: string) => () => {
    const file = files.get(name);
    if (file === undefined) return { status: 404, body: { error: { code: "NOT_FOUND", message: name } } };
    return { raw: file.data, headers: { "content-type": file.type, ...SECURITY_HEADERS } };
  };
  const redirect = () => ({ status: 302, raw: "", headers: { location: "/dashboard/" } });
  router.add("GET", "/", redirect);
  router.add("GET", "/dashboard", serve("index.html"));
  for (const name of Object.keys(FILES)) router.add("GET", `/dashboard/${name}`, serve(name));
}
