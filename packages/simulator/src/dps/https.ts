// The DPS device runtime over HTTPS, as `azure-iot-provisioning-device-http` and microcontroller SDKs speak it:
// the same DpsService as MQTT, the credentials taken from the `Authorization` header or the TLS client certificate.
import type { TLSSocket } from "node:tls";
import { validateRegistrationId } from "@skittlesorter/attestation";
import type { RouteRequest, RouteResponse, Router } from "../net/http.ts";
import { peerChainOf } from "../net/mqtt-listeners.ts";
import { DpsErrorCode, DpsFailure, type DpsOperationRequest } from "./protocol.ts";
import type { DeviceSession, DpsService } from "./service.ts";

/** HTTP has no `$rid`: answers are matched to requests by the connection. */
const NO_RID = "";

/**
 * `PUT /{idScope}/registrations/{registrationId}/register?api-version=…` and
 * `GET /{idScope}/registrations/{registrationId}/operations/{operationId}?api-version=…`. Every other DPS path
 * (`/enrollments/…`, `/enrollmentGroups/…`, `/registrations/{id}`) has fewer segments, so they coexist.
 */
export function registerDpsRuntimeRoutes(router: Router, service: DpsService): void {
  router.add("PUT", "/:idScope/registrations/:registrationId/register", (request) =>
    serve(service, request, { kind: "register", rid: NO_RID }),
  );
  router.add("GET", "/:idScope/registrations/:registrationId/operations/:operationId", (request) =>
    serve(service, request, { kind: "status", rid: NO_RID, operationId: request.params.operationId }),
  );
}

async function serve(
  service: DpsService,
  request: RouteRequest,
  operation: DpsOperationRequest,
): Promise<RouteResponse> {
  const payload =
    operation.kind === "register" && request.body !== undefined
      ? Buffer.from(JSON.stringify(request.body), "utf8")
      : Buffer.alloc(0);
  const answer = await service.answer(sessionOf(request, service.idScope), operation, payload);
  return {
    status: answer.status,
    body: answer.body,
    headers:
      answer.retryAfterSeconds === undefined ? {} : { "retry-after": String(answer.retryAfterSeconds) },
  };
}

/** What the request presents: the ID scope and registration id of its path, its SAS token or client certificate. */
function sessionOf(request: RouteRequest, idScope: string): DeviceSession {
  const socket = request.incoming.socket as Partial<TLSSocket>;
  const given = request.params.registrationId ?? "";
  const authorization = request.headers.authorization;
  const session: DeviceSession = {
    idScope: request.params.idScope ?? "",
    registrationId: given.toLowerCase(),
    apiVersion: request.query.get("api-version") ?? undefined,
    password: authorization === undefined || authorization === "" ? undefined : authorization,
    peerChain: socket.encrypted === true ? peerChainOf(socket as TLSSocket) : [],
  };
  if (socket.remoteAddress !== undefined) session.remoteAddress = socket.remoteAddress;
  try {
    session.registrationId = validateRegistrationId(given);
  } catch (error) {
    session.problem = new DpsFailure(
      400,
      DpsErrorCode.deserialization,
      `Invalid registration id in the path: ${(error as Error).message}.`,
    );
  }
  if (session.idScope !== idScope) {
    session.problem = new DpsFailure(
      401,
      DpsErrorCode.unauthorized,
      `Unauthorized: ID scope "${session.idScope.slice(0, 64)}" in the path is not this DPS's ("${idScope}"); use the idScope from sim.json.`,
    );
  }
  return session;
}
