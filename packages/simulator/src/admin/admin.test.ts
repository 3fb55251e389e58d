import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSim, type TestSim } from "../sim.test-support.ts";

async function raw(
  sim: TestSim,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${sim.config.http.url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body }),
  });
  return {
    status: response.status,
    body: (await response.json().catch(() => undefined)) as { error?: { code: string; message: string } },
  };
}

describe("admin API", () => {
  let sim: TestSim;
  beforeAll(async () => {
    sim = await startTestSim();
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("answers bad requests with a status, a code and a message", async () => {
    const cases: [string, string, string | undefined, Record<string, string>, number, string][] = [
      ["PUT", "/admin/enrollment-groups/g1", "{oops", {}, 400, "INVALID_JSON"],
      ["PUT", "/admin/enrollment-groups/g1", "[]", {}, 400, "INVALID_BODY"],
      ["PUT", "/admin/enrollment-groups/-bad-", "{}", {}, 400, "INVALID_ID"],
      ["PUT", "/admin/enrollment-groups/g1", '{"attestation":{"type":"tpm"}}', {}, 400, "INVALID_BODY"],
      ["PUT", "/admin/enrollment-groups/g1", '{"attestation":{"type":"x509"}}', {}, 400, "INVALID_BODY"],
      [
        "PUT",
        "/admin/enrollment-groups/g1",
        '{"attestation":{"type":"x509","caName":"nope"}}',
        {},
        404,
        "CA_CERTIFICATE_NOT_FOUND",
      ],
      [
        "PUT",
        "/admin/enrollment-groups/g1",
        '{"attestation":{"primaryKey":"c2hvcnQ="}}',
        {},
        400,
        "INVALID_KEY",
      ],
      ["PUT", "/admin/enrollment-groups/g1", '{"credentialPolicy":"missing"}', {}, 404, "POLICY_NOT_FOUND"],
      ["PUT", "/admin/enrollment-groups/g1", '{"allocationPolicy":"static"}', {}, 400, "INVALID_BODY"],
      [
        "PUT",
        "/admin/enrollment-groups/skittlesorter",
        "{}",
        { "if-none-match": "*" },
        409,
        "ENROLLMENT_EXISTS",
      ],
      ["PUT", "/admin/enrollment-groups/skittlesorter", "{}", { "if-match": "stale" }, 412, "ETAG_MISMATCH"],
      ["GET", "/admin/enrollment-groups/unknown", undefined, {}, 404, "ENROLLMENT_NOT_FOUND"],
      ["PUT", "/admin/adr/policies/p1", '{"validityDays":5}', {}, 400, "INVALID_BODY"],
      ["PUT", "/admin/adr/policies/p1", '{"validityDays":91}', {}, 400, "INVALID_BODY"],
      ["PUT", "/admin/certificates/c1", '{"certificate":"garbage"}', {}, 400, "INVALID_CERTIFICATE"],
      ["DELETE", "/admin/hubs/skittle-hub", undefined, {}, 400, "LOCAL_HUB"],
      ["PATCH", "/admin/settings", '{"assignmentDelayMs":-1}', {}, 400, "INVALID_BODY"],
      ["GET", "/admin/nothing-here", undefined, {}, 404, "NOT_FOUND"],
      ["POST", "/admin/registrations", "{}", {}, 405, "METHOD_NOT_ALLOWED"],
    ];
    for (const [method, path, body, headers, status, code] of cases) {
      const answer = await raw(sim, method, path, body, headers);
      expect({ method, path, body, status: answer.status, code: answer.body?.error?.code }).toEqual({
        method,
        path,
        body,
        status,
        code,
      });
      expect(answer.body?.error?.message.length).toBeGreaterThan(10);
    }
    const large = await raw(
      sim,
      "PUT",
      "/admin/enrollment-groups/g1",
      JSON.stringify({ x: "y".repeat(1_100_000) }),
    );
    expect(large.status).toBe(413);
    // Nothing was created by the refused requests.
    const groups = await sim.admin.get<{ id: string }[]>("/admin/enrollment-groups");
    expect(groups.map((group) => group.id)).toEqual(["skittlesorter"]);
  });

  it("creates, updates and lists enrollments, hubs, policies and settings", async () => {
    const individual = await sim.admin.request<{
      id: string;
      deviceId: string;
      attestation: { primaryKey: string };
    }>("PUT", "/admin/individual-enrollments/Dev-One?includeSecrets=true", {
      body: { attestation: { type: "symmetricKey" }, deviceId: "device-one" },
    });
    expect(individual.status).toBe(201);
    expect(individual.body).toMatchObject({ id: "dev-one", deviceId: "device-one" });
    expect(Buffer.from(individual.body.attestation.primaryKey, "base64")).toHaveLength(64);
    const hub = await sim.admin.request("PUT", "/admin/hubs/far-hub", {
      body: { hostname: "far.example.net", allocationWeight: 3 },
    });
    expect(hub.body).toMatchObject({ name: "far-hub", allocationWeight: 3, local: false });
    const policy = await sim.admin.request("PUT", "/admin/adr/policies/week", { body: { validityDays: 7 } });
    expect(policy).toMatchObject({
      status: 201,
      body: { name: "week", validityDays: 7, keyType: "ec-p384" },
    });
    const settings = await sim.admin.request("PATCH", "/admin/settings", {
      body: { registrationsPerMinute: 100 },
    });
    expect(settings.body).toMatchObject({ registrationsPerMinute: 100, assignmentDelayMs: 0 });
    const config = await sim.admin.get<{
      settings: { registrationsPerMinute: number };
      adr: { credentialPolicies: unknown[] };
    }>("/admin/config");
    expect(config.settings.registrationsPerMinute).toBe(100);
    expect(config.adr.credentialPolicies).toContainEqual({ name: "week", validityDays: 7 });
    const events = await sim.admin.get<{ kind: string }[]>("/admin/events");
    expect(events.map((event) => event.kind)).toEqual(
      expect.arrayContaining(["enrollment.created", "hub.linked", "policy.created", "settings.updated"]),
    );
  });
});
