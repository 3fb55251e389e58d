// ADR through Azure's own REST stack, configured as the generated Device Registry ARM client
// (`@azure/arm-deviceregistry`, sdk/deviceregistry/arm-deviceregistry/src/api/deviceRegistryManagementContext.ts and
// static-helpers/pollingHelpers.ts in Azure/azure-sdk-for-js) configures it: `@azure-rest/core-client` with a bearer
// token, its own api-version policy, and `@azure/core-lro` pollers with the generated expected statuses.

import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { createHttpPoller, type OperationResponse, type RunningOperation } from "@azure/core-lro";
import type { Client, PathUncheckedResponse } from "@azure-rest/core-client";
import { createRestError, getClient } from "@azure-rest/core-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionDevice, startTestSim, type TestSim } from "../sim.test-support.ts";

interface ArmDevice {
  name: string;
  etag: string;
  tags: Record<string, string>;
  properties: { enabled: boolean; attributes: Record<string, unknown>; provisioningState: string };
}

/** `createDeviceRegistryManagement` of the generated client, with the simulator's root as trusted CA. */
function deviceRegistryClient(endpoint: string, credential: TokenCredential, apiVersion: string, ca: string) {
  const client = getClient(endpoint, credential, {
    userAgentOptions: { userAgentPrefix: "azsdk-js-api azsdk-js-arm-deviceregistry/1.0.0-beta.2" },
    credentials: { scopes: [`${endpoint}/.default`] },
    tlsOptions: { ca },
  });
  client.pipeline.removePolicy({ name: "ApiVersionPolicy" });
  client.pipeline.addPolicy({
    name: "ClientApiVersionPolicy",
    sendRequest: (request, next) => {
      const url = new URL(request.url);
      if (!url.searchParams.get("api-version")) {
        request.url = `${request.url}${[...url.searchParams.keys()].length > 0 ? "&" : "?"}api-version=${apiVersion}`;
      }
      return next(request);
    },
  });
  return client;
}

function lroResponse(
  response: PathUncheckedResponse,
  expected: string[],
): OperationResponse<PathUncheckedResponse> {
  if (!expected.includes(response.status)) throw createRestError(response);
  return {
    flatResponse: response,
    rawResponse: { ...response, statusCode: Number.parseInt(response.status, 10), body: response.body },
  };
}

/** `getLongRunningPoller` of the generated client's pollingHelpers.ts. */
function longRunning<T>(
  client: Client,
  initial: () => PromiseLike<PathUncheckedResponse>,
  expected: string[],
  resourceLocationConfig: "location" | "azure-async-operation",
) {
  const operation: RunningOperation<PathUncheckedResponse> = {
    sendInitialRequest: async () => lroResponse(await initial(), expected),
    sendPollRequest: async (path) => lroResponse(await client.pathUnchecked(path).get(), expected),
  };
  return createHttpPoller(operation, {
    intervalInMs: 20,
    resourceLocationConfig,
    processResult: async (result) => (result as PathUncheckedResponse).body as T,
  });
}

/** The generated client's `buildPagedAsyncIterator`: follows `nextLink` as an absolute URL. */
async function listAll<T>(client: Client, path: string): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let pages = 0;
  let response = await client.path(path).get();
  for (;;) {
    if (response.status !== "200") throw createRestError(response);
    pages++;
    const page = response.body as { value: T[]; nextLink?: string };
    items.push(...page.value);
    if (page.nextLink === undefined) return { items, pages };
    response = await client.pathUnchecked(page.nextLink).get();
  }
}

describe.each(["2025-11-01-preview", "2026-03-01-preview"])(
  "ADR through @azure-rest/core-client and @azure/core-lro (%s)",
  (apiVersion) => {
    let sim: TestSim;
    let client: Client;
    let namespacePath: string;

    beforeAll(async () => {
      sim = await startTestSim({ adrPageSize: 2, adrOperationDelayMs: 50 });
      for (const id of ["sdk-dev-a", "sdk-dev-b", "sdk-dev-c"]) await provisionDevice(sim, id);
      const { adr } = sim.config;
      const credential: TokenCredential = {
        getToken: async (): Promise<AccessToken> => ({
          token: adr.token,
          expiresOnTimestamp: Date.now() + 3_600_000,
        }),
      };
      client = deviceRegistryClient(adr.baseUrl, credential, apiVersion, sim.rootPem);
      namespacePath = `/subscriptions/${adr.subscriptionId}/resourceGroups/${adr.resourceGroup}/providers/Microsoft.DeviceRegistry/namespaces/${adr.namespace}`;
    });

    afterAll(async () => {
      await sim?.close();
    });

    it("lists devices across pages, gets, creates, PATCHes and deletes them, and synchronizes credentials", async () => {
      const listed = await listAll<ArmDevice>(client, `${namespacePath}/devices`);
      expect(listed.pages).toBe(2);
      expect(listed.items.map((device) => device.name)).toEqual(["sdk-dev-a", "sdk-dev-b", "sdk-dev-c"]);

      const got = await client.path(`${namespacePath}/devices/sdk-dev-b`).get();
      expect(got.status).toBe("200");
      expect(got.body).toMatchObject({ name: "sdk-dev-b", properties: { enabled: true } });

      const deviceUrl = `${namespacePath}/devices/sdk-dev-new`;
      const created = await longRunning<ArmDevice>(
        client,
        () =>
          client.path(deviceUrl).put({
            contentType: "application/json",
            body: { location: "northeurope", tags: { site: "lab" }, properties: { attributes: { bins: 6 } } },
          }),
        ["200", "201", "202"],
        "azure-async-operation",
      ).pollUntilDone();
      expect(created).toMatchObject({
        name: "sdk-dev-new",
        tags: { site: "lab" },
        properties: { attributes: { bins: 6 } },
      });

      const patched = await longRunning<ArmDevice>(
        client,
        () =>
          client.path(deviceUrl).patch({
            contentType: "application/json",
            body: {
              tags: { site: "kitchen" },
              properties: { enabled: false, attributes: { sensor: "tcs34725" } },
            },
          }),
        ["200", "202", "201"],
        "location",
      ).pollUntilDone();
      expect(patched).toMatchObject({
        tags: { site: "kitchen" },
        properties: { enabled: false, attributes: { bins: 6, sensor: "tcs34725" } },
      });

      await longRunning<void>(
        client,
        () => client.path(deviceUrl).delete(),
        ["202", "204", "200"],
        "location",
      ).pollUntilDone();
      expect((await client.path(deviceUrl).get()).status).toBe("404");

      const before = await sim.admin.get<{ kind: string }[]>("/admin/events?limit=1000");
      await longRunning<void>(
        client,
        () => client.path(`${namespacePath}/credentials/default/synchronize`).post(),
        ["202", "200", "201"],
        "location",
      ).pollUntilDone();
      const after = await sim.admin.get<{ kind: string }[]>("/admin/events?limit=1000");
      expect(after.length).toBeGreaterThan(before.length);
    });
  },
);
