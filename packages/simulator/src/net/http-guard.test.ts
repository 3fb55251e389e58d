import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionDevice, runCli, startTestSim, type TestSim } from "../sim.test-support.ts";

interface RawAnswer {
  status: number;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

/** A request with exactly these headers (fetch cannot set Host, and adds its own). */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: options.method ?? "GET", headers: options.headers ?? {} });
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: response.statusCode ?? 0, body: text === "" ? {} : JSON.parse(text) });
      });
    });
    request.on("error", reject);
    request.end(options.body);
  });
}

// What a web page on another site, or a DNS-rebound host name, can make a browser send must not reach
// the admin API or ADR REST; secrets leave the simulator only when asked for.
describe("HTTP surface protections", () => {
  let sim: TestSim;
  let url: string;
  let port: number;

  beforeAll(async () => {
    sim = await startTestSim({ allowedHostNames: ["sim.test"] });
    url = sim.config.http.url;
    port = Number(new URL(url).port);
    await provisionDevice(sim, "guard-dev-01");
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("refuses a Host that is not one of the simulator's names, naming it and the allowed names", async () => {
    const rebound = await raw(`${url}/admin/config`, { headers: { host: `attacker.example:${port}` } });
    expect(rebound.status).toBe(403);
    expect(rebound.body.error?.code).toBe("HOST_NOT_ALLOWED");
    expect(rebound.body.error?.message).toContain("attacker.example");
    expect(rebound.body.error?.message).toContain("localhost");
    expect(JSON.stringify(rebound.body)).not.toContain(sim.groupKey);
    for (const path of ["/dashboard/", "/admin/stream", "/admin/devices", "/subscriptions/x"]) {
      expect((await raw(`${url}${path}`, { headers: { host: "attacker.example" } })).status).toBe(403);
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, "[::1]", `sim.test:${port}`, "LOCALHOST"]) {
      expect((await raw(`${url}/admin/status`, { headers: { host } })).status, host).toBe(200);
    }
  });

  it("refuses cross-origin mutations of the admin API and ADR REST, and non-JSON bodies", async () => {
    const method = JSON.stringify({ methodName: "pause", connectTimeoutInSeconds: 0 });
    const cases: [string, string, Record<string, string>, string | undefined, number, string][] = [
      [
        "POST",
        "/admin/adr/synchronize",
        { origin: "http://evil.example" },
        undefined,
        403,
        "CROSS_ORIGIN_REQUEST",
      ],
      ["POST", "/admin/adr/synchronize", { origin: "null" }, undefined, 403, "CROSS_ORIGIN_REQUEST"],
      [
        "POST",
        "/admin/adr/synchronize",
        { origin: `http://127.0.0.1:${port + 1}` },
        undefined,
        403,
        "CROSS_ORIGIN_REQUEST",
      ],
      [
        "POST",
        "/admin/adr/synchronize",
        { "sec-fetch-site": "cross-site" },
        undefined,
        403,
        "CROSS_SITE_REQUEST",
      ],
      [
        "POST",
        "/admin/adr/synchronize",
        { "sec-fetch-site": "same-site" },
        undefined,
        403,
        "CROSS_SITE_REQUEST",
      ],
      [
        "POST",
        "/admin/devices/guard-dev-01/methods",
        { "content-type": "text/plain" },
        method,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      ],
      ["POST", "/admin/devices/guard-dev-01/methods", {}, method, 415, "UNSUPPORTED_MEDIA_TYPE"],
      [
        "PATCH",
        "/admin/settings",
        { "content-type": "application/x-www-form-urlencoded" },
        "{}",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      ],
      [
        "DELETE",
        "/admin/registrations/guard-dev-01",
        { origin: "https://evil.example" },
        undefined,
        403,
        "CROSS_ORIGIN_REQUEST",
      ],
      [
        "POST",
        `/subscriptions/${sim.config.adr.subscriptionId}/resourceGroups/${sim.config.adr.resourceGroup}/providers/Microsoft.DeviceRegistry/namespaces/${sim.config.adr.namespace}/credentials/default/synchronize?api-version=${sim.config.adr.apiVersion}`,
        { origin: "http://evil.example", authorization: `Bearer ${sim.config.adr.token}` },
        undefined,
        403,
        "CROSS_ORIGIN_REQUEST",
      ],
    ];
    for (const [verb, path, headers, body, status, code] of cases) {
      const answer = await raw(`${url}${path}`, {
        method: verb,
        headers,
        ...(body === undefined ? {} : { body }),
      });
      expect(
        { status: answer.status, code: answer.body.error?.code },
        `${verb} ${path} ${JSON.stringify(headers)}`,
      ).toEqual({
        status,
        code,
      });
      expect(answer.body.error?.message).toMatch(/simulator|Content-Type/);
    }
    // The registration survived the cross-origin DELETE.
    expect((await raw(`${url}/admin/registrations/guard-dev-01`)).status).toBe(200);
  });

  it("accepts same-origin mutations and clients that send no Origin", async () => {
    const sameOrigin = await raw(`${url}/admin/adr/synchronize`, {
      method: "POST",
      headers: { origin: url, "sec-fetch-site": "same-origin" },
    });
    expect(sameOrigin.status).toBe(200);
    const json = await raw(`${url}/admin/settings`, {
      method: "PATCH",
      headers: { "content-type": "application/json; charset=utf-8", origin: `http://localhost:${port}` },
      body: JSON.stringify({ assignmentDelayMs: 0 }),
    });
    expect(json.status).toBe(200);
    expect((await runCli(["policy", "sync", "--data-dir", sim.dir.path])).code).toBe(0);
  });

  it("leaves keys and tokens out of admin answers unless includeSecrets=true", async () => {
    const device = (await sim.admin.get<{ authentication: Record<string, unknown> }[]>("/admin/devices"))[0];
    expect(device?.authentication).toEqual({ type: "sas" });
    const withKeys = await sim.admin.get<{ authentication: { primaryKey?: string } }>(
      "/admin/devices/guard-dev-01?includeSecrets=true",
    );
    expect(withKeys.authentication.primaryKey).toEqual(expect.any(String));
    const key = withKeys.authentication.primaryKey ?? "";

    const config = await sim.admin.get<Record<string, unknown>>("/admin/config");
    const configText = JSON.stringify(config);
    expect(configText).not.toContain(sim.groupKey);
    expect(configText).not.toContain(sim.config.adr.token);
    expect(config.idScope).toBe(sim.config.idScope);
    const secretConfig = await sim.admin.get<{ enrollmentGroups: { primaryKey?: string }[] }>(
      "/admin/config?includeSecrets=true",
    );
    expect(secretConfig.enrollmentGroups[0]?.primaryKey).toBe(sim.groupKey);

    const groups = JSON.stringify(await sim.admin.get("/admin/enrollment-groups"));
    expect(groups).not.toContain(sim.groupKey);
    expect(JSON.stringify(await sim.admin.get("/admin/enrollment-groups/skittlesorter"))).not.toContain(
      sim.groupKey,
    );
    expect(JSON.stringify(await sim.admin.get("/admin/enrollment-groups?includeSecrets=true"))).toContain(
      sim.groupKey,
    );
    const bad = await raw(`${url}/admin/devices?includeSecrets=yes`);
    expect(bad.body.error?.code).toBe("INVALID_QUERY");

    const list = await runCli(["device", "list", "--json", "--data-dir", sim.dir.path]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("guard-dev-01");
    expect(list.stdout).not.toContain(key);
    const shown = await runCli(["device", "list", "--json", "--show-secrets", "--data-dir", sim.dir.path]);
    expect(shown.stdout).toContain(key);
    const enrollments = await runCli(["enrollment", "show", "skittlesorter", "--data-dir", sim.dir.path]);
    expect(enrollments.stdout).not.toContain(sim.groupKey);
    const enrollmentKeys = await runCli([
      "enrollment",
      "show",
      "skittlesorter",
      "--show-secrets",
      "--data-dir",
      sim.dir.path,
    ]);
    expect(enrollmentKeys.stdout).toContain(sim.groupKey);
  });
});
