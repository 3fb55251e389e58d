import { certificateFacts } from "@skittlesorter/csr";
import { azureTimestamp } from "../azure-time.ts";
import { HttpError, type Router } from "../net/http.ts";
import type { AdrPolicy } from "../state/model.ts";
import {
  type AdrApiOptions,
  type AdrScope,
  apiVersionOf,
  armGuard,
  checkCredential,
  createOperations,
  requestOrigin,
  retryAfterSeconds,
} from "./arm.ts";
import { deviceChangeRoutes, deviceHelpers, devicePutRoute, deviceReadRoutes } from "./device-routes.ts";
import {
  ADR_CREDENTIAL_TYPE,
  ADR_LOCATION,
  ADR_NAMESPACE_TYPE,
  ADR_POLICY_TYPE,
  ADR_PROVIDER,
} from "./service.ts";

/**
 * The ADR ARM REST API (`Microsoft.DeviceRegistry`, api-versions 2025-11-01-preview and 2026-03-01-preview) on the
 * HTTPS port:
 * namespace, devices (list with `nextLink`, get, PUT, PATCH, DELETE), the credential, its policies and
 * `credentials/default/synchronize`, plus ARM's operation status/result URLs for long-running operations.
 */
export function registerAdrRoutes(router: Router, options: AdrApiOptions): void {
  const { adr, context } = options;
  const namespace = adr.namespace;
  const scope: AdrScope = {
    router,
    options,
    adr,
    context,
    store: context.store,
    namespace,
    arm: armGuard(options, namespace),
    base: "/subscriptions/:subscription/resourceGroups/:resourceGroup/providers/Microsoft.DeviceRegistry/namespaces/:namespace",
    opsBase: "/subscriptions/:subscription/providers/Microsoft.DeviceRegistry/locations/:location",
    ...createOperations(context, namespace, options.operationDelayMs),
    requestOrigin,
    ...deviceHelpers(adr, namespace),
  };
  operationRoutes(scope);
  namespaceRoutes(scope);
  policyRoutes(scope);
  deviceReadRoutes(scope);
  devicePutRoute(scope);
  deviceChangeRoutes(scope);
}

/** ARM operation status and result URLs. */
function operationRoutes(scope: AdrScope): void {
  const { router, context, namespace, arm, opsBase, findOperation, requestOrigin } = scope;
  router.add(
    "GET",
    `${opsBase}/operationStatuses/:id`,
    arm((request) => {
      const operation = findOperation(request);
      const done = context.clock.now() >= operation.readyAt;
      return {
        body: {
          id: `/subscriptions/${namespace.subscriptionId}/providers/${ADR_PROVIDER}/locations/${ADR_LOCATION}/operationStatuses/${operation.id}`,
          name: operation.id,
          status: done ? "Succeeded" : "InProgress",
          startTime: operation.startTime,
          ...(done ? { endTime: azureTimestamp(operation.readyAt), percentComplete: 100 } : {}),
        },
        ...(done ? {} : { headers: { "retry-after": retryAfterSeconds(operation, context.clock.now()) } }),
      };
    }, "subscription"),
  );
  router.add(
    "GET",
    `${opsBase}/operationResults/:id`,
    arm((request) => {
      const operation = findOperation(request);
      const now = context.clock.now();
      if (now < operation.readyAt) {
        return {
          status: 202,
          headers: {
            location: `${requestOrigin(request)}${request.path}?api-version=${apiVersionOf(request)}`,
            "retry-after": retryAfterSeconds(operation, now),
          },
        };
      }
      return operation.result.body === undefined
        ? { status: operation.result.status }
        : { status: operation.result.status, body: operation.result.body };
    }, "subscription"),
  );
}

/** The namespace and its credential. */
function namespaceRoutes(scope: AdrScope): void {
  const { router, adr, store, namespace, arm, base, startOperation } = scope;
  router.add(
    "GET",
    base,
    arm(() => ({
      body: {
        id: adr.namespaceId,
        name: namespace.name,
        type: ADR_NAMESPACE_TYPE,
        location: ADR_LOCATION,
        tags: {},
        properties: {
          uuid: store.getMeta<{ uuid?: string }>("adrNamespace")?.uuid ?? namespace.subscriptionId,
          messaging: {
            endpoints: Object.fromEntries(
              store
                .listHubs()
                .map((hub) => [
                  hub.name,
                  { endpointType: "Microsoft.Devices/IoTHubs", address: hub.hostname },
                ]),
            ),
          },
          provisioningState: "Succeeded",
        },
      },
    })),
  );

  const credentialPath = `${base}/credentials/:credential`;
  router.add(
    "GET",
    credentialPath,
    arm((request) => {
      checkCredential(request);
      const trust = adr.trust();
      return {
        body: {
          id: `${adr.namespaceId}/credentials/default`,
          name: "default",
          type: ADR_CREDENTIAL_TYPE,
          location: ADR_LOCATION,
          tags: {},
          properties: { provisioningState: "Succeeded", lastSynchronizedAt: trust.synchronizedAt },
        },
      };
    }),
  );
  router.add(
    "POST",
    `${credentialPath}/synchronize`,
    arm((request) => {
      checkCredential(request);
      adr.synchronize("adr-rest");
      // 200, not 204: the generated ARM client accepts 200/201/202 as the action's final answer.
      return startOperation(request, { status: 200 });
    }),
  );
}

/** The credential policies. */
function policyRoutes(scope: AdrScope): void {
  const { router, adr, store, namespace, arm, base } = scope;
  const credentialPath = `${base}/credentials/:credential`;
  // 2026-03-01-preview made the policy a proxy resource: no location, no tags.
  const policyView = (policy: AdrPolicy, apiVersion: string): Record<string, unknown> => {
    const ca = certificateFacts(policy.issuingCaPem);
    return {
      id: adr.policyResourceId(policy.name),
      name: policy.name,
      type: ADR_POLICY_TYPE,
      ...(apiVersion === "2025-11-01-preview" ? { location: ADR_LOCATION, tags: {} } : {}),
      systemData: {
        createdBy: "skittle-sim",
        createdByType: "Application",
        createdAt: policy.created,
        lastModifiedBy: "skittle-sim",
        lastModifiedByType: "Application",
        lastModifiedAt: policy.created,
      },
      properties: {
        certificate: {
          certificateAuthorityConfiguration: {
            keyType: "ECC",
            subject: ca.subject,
            validityNotBefore: ca.notBefore.toISOString(),
            validityNotAfter: ca.notAfter.toISOString(),
          },
          leafCertificateConfiguration: { validityPeriodInDays: policy.validityDays },
        },
        provisioningState: "Succeeded",
      },
    };
  };
  router.add(
    "GET",
    `${credentialPath}/policies`,
    arm((request) => {
      checkCredential(request);
      const apiVersion = apiVersionOf(request);
      return {
        body: { value: store.listPolicies(namespace.name).map((policy) => policyView(policy, apiVersion)) },
      };
    }),
  );
  router.add(
    "GET",
    `${credentialPath}/policies/:policy`,
    arm((request) => {
      checkCredential(request);
      const policy = store.getPolicy(namespace.name, request.params.policy ?? "");
      if (policy === undefined) {
        throw new HttpError(
          404,
          "ResourceNotFound",
          `The Resource '${ADR_POLICY_TYPE}/${request.params.policy}' under resource group '${namespace.resourceGroup}' was not found.`,
        );
      }
      return { body: policyView(policy, apiVersionOf(request)) };
    }),
  );
}
