import { writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../run-cli.test-support.ts";

const TOKEN = "sim-token-5f2a9c";
const API_VERSION = "2026-03-01-preview";
const NS = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DeviceRegistry/namespaces/skittles";

interface Device {
  id: string;
  name: string;
  type: string;
  location: string;
  tags: Record<string, string>;
  properties: Record<string, unknown>;
}

interface Seen {
  method: string;
  path: string;
  body: string;
  headers: IncomingHttpHeaders;
}

/**
 * A loopback ARM look-alike for one namespace: devices listed two per page, PATCH answered 202 with an
 * Azure-AsyncOperation to poll, DELETE 200/204, policies, credential synchronize (202 + Location). Checks the token.
 */
function createArm() {
  const devices = new Map<string, Device>();
  const seen: Seen[] = [];
  const operations = new Map<string, number>();
  let baseUrl = "";

  const device = (
    name: string,
    properties: Record<string, unknown>,
    tags: Record<string, string> = {},
  ): Device => ({
    id: `${NS}/devices/${name}`,
    name,
    type: "Microsoft.DeviceRegistry/namespaces/devices",
    location: "northeurope",
    tags,
    properties: { enabled: true, provisioningState: "Succeeded", externalDeviceId: name, ...properties },
  });
  const policy = {
    id: `${NS}/credentials/default/policies/default`,
    name: "default",
    type: "Microsoft.DeviceRegistry/namespaces/credentials/policies",
    properties: {
      provisioningState: "Succeeded",
      certificate: {
        certificateAuthorityConfiguration: { keyType: "ECC", subject: "CN=skittles-ca" },
        leafCertificateConfiguration: { validityPeriodInDays: 30 },
      },
    },
  };
  const reset = (): void => {
    devices.clear();
    operations.clear();
    seen.length = 0;
    for (const name of ["sorter-01", "sorter-02", "sorter-03"]) {
      devices.set(
        name,
        device(name, { attributes: { site: "lab" }, operatingSystemVersion: "12.1" }, { team: "a" }),
      );
    }
  };
  reset();

  type Answer = { status: number; body?: unknown; headers?: Record<string, string> };
  const notFound = (what: string): Answer => ({
    status: 404,
    body: { error: { code: "ResourceNotFound", message: `The Resource '${what}' was not found.` } },
  });

  const handle = (method: string, url: URL, body: string, headers: IncomingHttpHeaders): Answer => {
    if (headers.authorization !== `Bearer ${TOKEN}`) {
      return {
        status: 401,
        body: { error: { code: "InvalidAuthenticationToken", message: "The access token is invalid." } },
      };
    }
    if (url.searchParams.get("api-version") !== API_VERSION) {
      return { status: 400, body: { error: { code: "InvalidApiVersion", message: "bad api-version" } } };
    }
    const path = url.pathname;
    if (method === "GET" && path.startsWith("/operationResults/")) {
      // Location polling: 202 while running, then 204.
      const polls = (operations.get(path) ?? 0) + 1;
      operations.set(path, polls);
      return polls < 2 ? { status: 202, headers: { "retry-after": "0" } } : { status: 204 };
    }
    if (method === "GET" && path.startsWith("/operations/")) {
      const polls = (operations.get(path) ?? 0) + 1;
      operations.set(path, polls);
      return polls < 2
        ? { status: 200, body: { status: "InProgress" }, headers: { "retry-after": "0" } }
        : { status: 200, body: { status: "Succeeded" } };
    }
    if (method === "GET" && path === `${NS}/devices`) {
      const all = [...devices.values()];
      const skip = Number(url.searchParams.get("$skipToken") ?? "0");
      const next =
        skip + 2 < all.length
          ? `${baseUrl}${NS}/devices?api-version=${API_VERSION}&$skipToken=${skip + 2}`
          : undefined;
      return {
        status: 200,
        body: { value: all.slice(skip, skip + 2), nextLink: next },
      };
    }
    const match = /^(.*)\/devices\/([^/]+)$/.exec(path);
    if (match?.[1] === NS && match[2] !== undefined) {
      const name = decodeURIComponent(match[2]);
      const current = devices.get(name);
      if (method === "GET") return current === undefined ? notFound(name) : { status: 200, body: current };
      if (method === "DELETE") {
        if (current === undefined) return { status: 204 };
        devices.delete(name);
        return { status: 200 };
      }
      if (method === "PATCH") {
        if (current === undefined) return notFound(name);
        const patch = JSON.parse(body) as {
          tags?: Record<string, string>;
          properties?: Record<string, unknown>;
        };
        devices.set(name, {
          ...current,
          tags: patch.tags ?? current.tags,
          properties: { ...current.properties, ...patch.properties },
        });
        return {
          status: 202,
          headers: {
            "azure-asyncoperation": `${baseUrl}/operations/${seen.length}?api-version=${API_VERSION}`,
            "retry-after": "0",
          },
        };
      }
    }
    if (method === "GET" && path === `${NS}/credentials/default/policies`)
      return { status: 200, body: { value: [policy] } };
    if (method === "GET" && path === `${NS}/credentials/default/policies/default`)
      return { status: 200, body: policy };
    if (method === "GET" && path.startsWith(`${NS}/credentials/default/policies/`)) return notFound(path);
    if (method === "POST" && path === `${NS}/credentials/default/synchronize`) {
      return {
        status: 202,
        headers: {
          location: `${baseUrl}/operationResults/sync?api-version=${API_VERSION}`,
          "retry-after": "0",
        },
      };
    }
    return notFound(path);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", baseUrl);
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method ?? "GET", path: url.pathname, body, headers: req.headers });
      const answer = handle(req.method ?? "GET", url, body, req.headers);
      const text = answer.body === undefined ? "" : JSON.stringify(answer.body);
      res.writeHead(answer.status, {
        "content-type": "application/json",
        "x-ms-request-id": "rid-1",
        ...answer.headers,
      });
      res.end(text);
    });
  });
  return {
    devices,
    seen,
    reset,
    get baseUrl() {
      return baseUrl;
    },
    async start() {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const arm = createArm();
let dir: Awaited<ReturnType<typeof tempDir>>;
let sim: string;

beforeAll(async () => {
  await arm.start();
  dir = await tempDir("skittle-adr-cli-");
  sim = join(dir.path, "sim.json");
  const adr = {
    baseUrl: arm.baseUrl,
    subscriptionId: "sub-1",
    resourceGroup: "rg-1",
    namespace: "skittles",
    token: TOKEN,
  };
  await writeFile(sim, JSON.stringify({ idScope: "0ne00000A0A", adr }));
  await writeFile(
    join(dir.path, "wrong-token.json"),
    JSON.stringify({ adr: { ...adr, token: "not-the-token" } }),
  );
  await writeFile(join(dir.path, "no-adr.json"), JSON.stringify({ idScope: "0ne00000A0A" }));
});

afterAll(async () => {
  await arm.stop();
  await dir[Symbol.asyncDispose]();
});

beforeEach(() => arm.reset());

describe("skittle adr devices", () => {
  it("lists every device across pages, as a table and as JSON", async () => {
    const run = await runCli(["adr", "devices", "list", "--sim", sim]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toContain("3 devices in namespace skittles:");
    expect(run.stdout).toMatch(/NAME\s+ENABLED\s+OS VERSION\s+STATE\s+EXTERNAL ID/);
    for (const name of ["sorter-01", "sorter-02", "sorter-03"])
      expect(run.stdout).toMatch(new RegExp(`${name}\\s+yes\\s+12\\.1`));
    expect(arm.seen.filter((request) => request.method === "GET")).toHaveLength(2);

    const json = await runCli(["adr", "devices", "list", "--sim", sim, "--json"]);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { name: string }[]).map((device) => device.name)).toEqual([
      "sorter-01",
      "sorter-02",
      "sorter-03",
    ]);
    expect(arm.seen.every((request) => request.headers["user-agent"]?.startsWith("skittle-cli/"))).toBe(true);
  });

  it("shows a device, and exits 1 with ADR_NOT_FOUND for a missing one", async () => {
    const run = await runCli(["adr", "devices", "show", "sorter-02", "--sim", sim]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^name:\s+sorter-02$/m);
    expect(run.stdout).toMatch(/^attributes:\s+\{"site":"lab"\}$/m);

    const json = await runCli(["adr", "devices", "show", "sorter-02", "--sim", sim, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual(arm.devices.get("sorter-02"));

    const missing = await runCli(["adr", "devices", "show", "ghost", "--sim", sim]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^error \[ADR_NOT_FOUND\]: device "ghost" not found in namespace skittles/,
    );
  });

  it("updates enabled, OS version, attributes and tags through a long-running PATCH, keeping other entries", async () => {
    const run = await runCli([
      "adr",
      "devices",
      "update",
      "sorter-01",
      "--sim",
      sim,
      "--enabled",
      "false",
      "--os-version",
      "12.4",
      "--attribute",
      "colour=red",
      "--attribute-json",
      "bins=6",
      "--tag",
      "site=kitchen",
      "--json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const expected = {
      enabled: false,
      operatingSystemVersion: "12.4",
      attributes: { site: "lab", colour: "red", bins: 6 },
    };
    expect((JSON.parse(run.stdout) as { properties: unknown }).properties).toMatchObject(expected);
    expect(arm.devices.get("sorter-01")?.properties).toMatchObject(expected);
    expect(arm.devices.get("sorter-01")?.tags).toEqual({ team: "a", site: "kitchen" });

    const patch = arm.seen.find((request) => request.method === "PATCH");
    expect(JSON.parse(patch?.body ?? "")).toEqual({
      tags: { team: "a", site: "kitchen" },
      properties: expected,
    });
    expect(arm.seen.some((request) => request.path.startsWith("/operations/"))).toBe(true);

    const shown = await runCli(["adr", "devices", "show", "sorter-01", "--sim", sim]);
    expect(shown.stdout).toMatch(/^enabled:\s+false$/m);
    expect(shown.stdout).toMatch(/^tags:\s+\{"team":"a","site":"kitchen"\}$/m);
  });

  it("exits 2 on a useless or malformed update, without calling ADR", async () => {
    for (const args of [
      [],
      ["--enabled", "maybe"],
      ["--attribute", "novalue"],
      ["--attribute-json", "x=nope"],
    ]) {
      const run = await runCli(["adr", "devices", "update", "sorter-01", "--sim", sim, ...args]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^error \[USAGE\]: /);
    }
    expect(arm.seen).toHaveLength(0);
  });

  it("deletes a device, and says so when there was nothing to delete", async () => {
    const run = await runCli(["adr", "devices", "delete", "sorter-03", "--sim", sim]);
    expect(run).toMatchObject({ code: 0, stdout: "deleted device sorter-03 from namespace skittles\n" });
    expect(arm.devices.has("sorter-03")).toBe(false);

    const again = await runCli(["adr", "devices", "delete", "sorter-03", "--sim", sim, "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ name: "sorter-03", namespace: "skittles", deleted: false });
  });
});

describe("skittle adr policies and sync", () => {
  it("lists and shows credential policies", async () => {
    const list = await runCli(["adr", "policies", "list", "--sim", sim]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/default\s+ECC\s+30\s+CN=skittles-ca\s+Succeeded/);

    const show = await runCli(["adr", "policies", "show", "default", "--sim", sim, "--json"]);
    expect((JSON.parse(show.stdout) as { name: string }).name).toBe("default");

    const missing = await runCli(["adr", "policies", "show", "nope", "--sim", sim]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("ADR_NOT_FOUND");
  });

  it("synchronizes the credentials and waits for the operation", async () => {
    const run = await runCli(["adr", "sync", "--sim", sim, "--json"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ namespace: "skittles", synchronized: true });
    expect(
      arm.seen.map((request) => `${request.method} ${request.path.split("/").slice(-2).join("/")}`),
    ).toEqual(["POST default/synchronize", "GET operationResults/sync", "GET operationResults/sync"]);
  });
});

describe("skittle adr connection", () => {
  it("exits 1 with ADR_UNAUTHORIZED when the token is refused, without printing any token", async () => {
    const run = await runCli(["adr", "devices", "list", "--sim", join(dir.path, "wrong-token.json")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[ADR_UNAUTHORIZED\]: .*InvalidAuthenticationToken/);
    expect(run.stderr + run.stdout).not.toContain("not-the-token");
  });

  it("logs HTTP attempts with --verbose but never the token", async () => {
    const run = await runCli(["adr", "devices", "list", "--sim", sim, "--verbose"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(
      /debug: ADR request method=GET url=http:\/\/127\.0\.0\.1:\d+\/subscriptions\/sub-1\/.* status=200/,
    );
    expect(run.stderr).not.toContain(TOKEN);
  });

  it("exits 2 when neither --sim nor the namespace flags say where to go", async () => {
    const run = await runCli(["adr", "devices", "list", "--subscription", "sub-1"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("missing --resource-group, --namespace");
  });

  it("exits 2 for a plain-http --base-url to a remote host", async () => {
    const run = await runCli(["adr", "devices", "list", "--sim", sim, "--base-url", "http://example.com"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("plain http");
  });

  it("explains a sim.json without an adr section, and a missing one", async () => {
    const noAdr = await runCli(["adr", "devices", "list", "--sim", join(dir.path, "no-adr.json")]);
    expect(noAdr.code).toBe(1);
    expect(noAdr.stderr).toMatch(/^error \[SIM_FILE_INVALID\]: .*no "adr" section/);

    const missing = await runCli(["adr", "devices", "list", "--sim", "does-not-exist.json"], dir.path);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error \[SIM_FILE_UNREADABLE\]: .*ENOENT/);
  });

  it("lists the adr commands in help", async () => {
    const run = await runCli(["adr", "devices", "--help"]);
    expect(run.code).toBe(0);
    for (const command of ["list", "show", "update", "delete"]) expect(run.stdout).toContain(command);
    const update = await runCli(["adr", "devices", "update", "--help"]);
    for (const flag of ["--enabled", "--os-version", "--attribute", "--tag", "--sim", "--json"]) {
      expect(update.stdout).toContain(flag);
    }
  });
});
