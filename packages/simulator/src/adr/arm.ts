// ARM conventions of the ADR REST API: bearer auth and api-version, request ids, long-running operations.
import { randomUUID, timingSafeEqual } from "node:crypto";
import { azureTimestamp } from "../azure-time.ts";
import {
  HttpError,
  isHttpError,
  type RouteHandler,
  type RouteRequest,
  type RouteResponse,
  type Router,
} from "../net/http.ts";
import type { SimContext } from "../state/context.ts";
import type { deviceHelpers } from "./device-routes.ts";
import { ADR_LOCATION, ADR_NAMESPACE_TYPE, ADR_PROVIDER, type AdrService } from "./service.ts";

export interface Operation {
  id: string;
  startTime: string;
  readyAt: number;
  /** What the `Location` URL answers once done. */
  result: { status: 200 | 204; body?: unknown };
}

export const bad = (code: string, message: string): HttpError => new HttpError(400, code, message);

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A namespace has one credential, `default`. */
export function checkCredential(request: RouteRequest): void {
  if (request.params.credential !== "default") {
    throw new HttpError(
      404,
      "ResourceNotFound",
      `The credential '${request.params.credential}' was not found; a namespace has one credential, 'default'.`,
    );
  }
}

/** The scheme and host the client used, for absolute links (`Location`, `Azure-AsyncOperation`, `nextLink`). */
export function requestOrigin(request: RouteRequest): string {
  const host = request.headers.host;
  const scheme = (request.incoming.socket as { encrypted?: boolean }).encrypted === true ? "https" : "http";
  return `${scheme}://${typeof host === "string" && host !== "" ? host : "127.0.0.1"}`;
}

/**
 * Wraps an ARM handler: bearer auth, api-version, and the subscription / resource group / namespace of the path;
 * every answer (errors too) carries ARM's request id headers.
 */
export function armGuard(
  options: AdrApiOptions,
  namespace: AdrService["namespace"],
): (handler: RouteHandler, scope?: "namespace" | "subscription") => RouteHandler {
  return (handler: RouteHandler, scope: "namespace" | "subscription" = "namespace"): RouteHandler =>
    async (request) => {
      const requestId = randomUUID();
      const headers = {
        "x-ms-request-id": requestId,
        "x-ms-correlation-request-id":
          typeof request.headers["x-ms-correlation-request-id"] === "string"
            ? request.headers["x-ms-correlation-request-id"]
            : requestId,
      };
      try {
        const authorization = request.headers.authorization;
        if (authorization === undefined) {
          throw new HttpError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing; send 'Authorization: Bearer <token>' with adr.token from sim.json.",
            { "www-authenticate": 'Bearer authorization_uri="skittle-sim", error="invalid_token"' },
          );
        }
        const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
        if (match === null || !sameToken(match[1] ?? "", options.token())) {
          throw new HttpError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid; use adr.token from the running simulator's sim.json.",
            { "www-authenticate": 'Bearer authorization_uri="skittle-sim", error="invalid_token"' },
          );
        }
        const apiVersion = request.query.get("api-version");
        if (apiVersion === null || apiVersion === "") {
          throw bad(
            "MissingApiVersionParameter",
            `The api-version query parameter (?api-version=) is required for all requests; use ${ADR_API_VERSION}.`,
          );
        }
        if (!ADR_API_VERSIONS.includes(apiVersion)) {
          throw bad(
            "NoRegisteredProviderFound",
            `No registered resource provider found for api version '${apiVersion}'. The supported api-versions are '${ADR_API_VERSIONS.join(", ")}'.`,
          );
        }
        if (request.params.subscription?.toLowerCase() !== namespace.subscriptionId.toLowerCase()) {
          throw new HttpError(
            404,
            "SubscriptionNotFound",
            `The subscription '${request.params.subscription}' could not be found; the simulator's is ${namespace.subscriptionId} (sim.json adr.subscriptionId).`,
          );
        }
        if (scope === "namespace") {
          if (request.params.resourceGroup?.toLowerCase() !== namespace.resourceGroup.toLowerCase()) {
            throw new HttpError(
              404,
              "ResourceGroupNotFound",
              `Resource group '${request.params.resourceGroup}' could not be found; the simulator's is '${namespace.resourceGroup}'.`,
            );
          }
          if (request.params.namespace?.toLowerCase() !== namespace.name.toLowerCase()) {
            const nested = request.path.split("/").filter(Boolean).length > 8;
            throw new HttpError(
              404,
              nested ? "ParentResourceNotFound" : "ResourceNotFound",
              nested
                ? `Can not perform requested operation on nested resource. Parent resource '${request.params.namespace}' not found.`
                : `The Resource '${ADR_NAMESPACE_TYPE}/${request.params.namespace}' under resource group '${namespace.resourceGroup}' was not found.`,
            );
          }
        }
        const answer = await handler(request);
        return { ...answer, headers: { ...headers, ...answer.headers } };
      } catch (error) {
        if (isHttpError(error)) {
          throw new HttpError(error.status, error.code, error.message, { ...headers, ...error.headers });
        }
        throw error;
      }
    };
}

/** ARM long-running operations: started by PATCH, DELETE and synchronize; polled through their status URLs. */
export function createOperations(
  context: SimContext,
  namespace: AdrService["namespace"],
  operationDelayMs: number,
) {
  const operations = new Map<string, Operation>();
  const startOperation = (request: RouteRequest, result: Operation["result"]): RouteResponse => {
    const now = context.clock.now();
    for (const [id, operation] of operations) {
      if (operation.readyAt < now - 60 * 60 * 1000) operations.delete(id);
    }
    const operation: Operation = {
      id: randomUUID(),
      startTime: azureTimestamp(now),
      readyAt: now + operationDelayMs,
      result,
    };
    operations.set(operation.id, operation);
    const prefix = `${requestOrigin(request)}/subscriptions/${namespace.subscriptionId}/providers/${ADR_PROVIDER}/locations/${ADR_LOCATION}`;
    const query = `?api-version=${apiVersionOf(request)}`;
    return {
      status: 202,
      headers: {
        "azure-asyncoperation": `${prefix}/operationStatuses/${operation.id}${query}`,
        location: `${prefix}/operationResults/${operation.id}${query}`,
        "retry-after": String(Math.ceil(operationDelayMs / 1000)),
      },
    };
  };

  const findOperation = (request: RouteRequest): Operation => {
    const operation = operations.get(request.params.id ?? "");
    if (operation === undefined) {
      throw new HttpError(
        404,
        "OperationNotFound",
        `Operation '${request.params.id}' was not found (or expired).`,
      );
    }
    return operation;
  };
  return { startOperation, findOperation };
}

export function retryAfterSeconds(operation: Operation, now: number): string {
  return String(Math.max(1, Math.ceil((operation.readyAt - now) / 1000)));
}

/**
 * The api-versions served, oldest first. The last is Azure's current one (the generated Device Registry ARM client
 * defaults to it), the simulator's `adr.apiVersion`. What differs between them: docs/research/adr-api-versions.md.
 */
export const ADR_API_VERSIONS: readonly string[] = Object.freeze([
  "2025-11-01-preview",
  "2026-03-01-preview",
]);
export const ADR_API_VERSION = "2026-03-01-preview";

/** The request's api-version (checked by {@link armGuard}): links the answer carries keep it, as ARM's do. */
export function apiVersionOf(request: RouteRequest): string {
  return request.query.get("api-version") ?? ADR_API_VERSION;
}

export interface AdrApiOptions {
  context: SimContext;
  adr: AdrService;
  /** The bearer token every request must carry. */
  token: () => string;
  /** Devices per list page unless `$top` says otherwise. */
  pageSize: number;
  /** How long long-running operations stay `InProgress` (their effect is applied at once). */
  operationDelayMs: number;
}

export interface AdrScope {
  router: Router;
  options: AdrApiOptions;
  adr: AdrService;
  context: SimContext;
  store: SimContext["store"];
  namespace: AdrService["namespace"];
  arm: ReturnType<typeof armGuard>;
  base: string;
  opsBase: string;
  startOperation: ReturnType<typeof createOperations>["startOperation"];
  findOperation: ReturnType<typeof createOperations>["findOperation"];
  requestOrigin: (request: RouteRequest) => string;
  deviceView: ReturnType<typeof deviceHelpers>["deviceView"];
  notFound: ReturnType<typeof deviceHelpers>["notFound"];
  actor: ReturnType<typeof deviceHelpers>["actor"];
  checkIfMatch: ReturnType<typeof deviceHelpers>["checkIfMatch"];
}
