// What a simulator creates on its first start and finds again on the next: identity, TLS, ADR namespace, settings,
// the default credential policy and enrollment group, and its own hub.
import { randomBytes, randomUUID } from "node:crypto";
import type { Clock } from "@skittlesorter/core";
import { putPolicy } from "./adr/policies.ts";
import { DEFAULT_GROUP_ID } from "./config.ts";
import { newEtag } from "./dps/etag.ts";
import type { StartSimulatorOptions } from "./options.ts";
import { DEFAULT_SETTINGS, LIMITS, type SimContext } from "./state/context.ts";
import type { AdrNamespace, Enrollment, Settings } from "./state/model.ts";
import { createCredentialRoot, ensureTlsMaterial, type TlsMaterial } from "./state/pki.ts";
import type { Store } from "./state/store.ts";
import type { KeyVault } from "./state/vault.ts";

export const DEFAULT_HUB_NAME = "skittle-hub";
export const DEFAULT_POLICY = "default";
export const DEFAULT_NAMESPACE = "skittle-ns";
export const DEFAULT_RESOURCE_GROUP = "skittle-sim";

interface Instance {
  idScope: string;
  subscriptionId: string;
  created: string;
}

export interface Ports {
  dps: number;
  dpsWs: number;
  hub: number;
  hubWs: number;
  http: number;
  https: number;
}

export interface SimState {
  instance: Instance;
  firstStart: boolean;
  namespace: AdrNamespace;
  settings: Settings;
  tls: TlsMaterial;
  previousPorts: Partial<Ports>;
}

function newIdScope(): string {
  return `0ne${randomBytes(4).toString("hex").toUpperCase()}`;
}

async function ensureNamespace(
  store: Store,
  vault: KeyVault,
  instance: Instance,
  clock: Clock,
): Promise<AdrNamespace> {
  const stored = store.getMeta<AdrNamespace>("adrNamespace");
  if (stored !== undefined) return stored;
  const root = await createCredentialRoot(vault, DEFAULT_NAMESPACE, clock);
  const namespace: AdrNamespace = {
    name: DEFAULT_NAMESPACE,
    subscriptionId: instance.subscriptionId,
    resourceGroup: DEFAULT_RESOURCE_GROUP,
    rootCaPem: root.certificatePem,
    rootKeyFile: root.keyFile,
    token: randomBytes(32).toString("base64url"),
    created: new Date(clock.now()).toISOString(),
  };
  store.setMeta("adrNamespace", namespace);
  return namespace;
}

/** The stored settings, with the options that override them (and are stored). */
function resolveSettings(store: Store, options: StartSimulatorOptions): Settings {
  const settings: Settings = { ...DEFAULT_SETTINGS, ...(store.getMeta<Partial<Settings>>("settings") ?? {}) };
  if (options.assignmentDelayMs !== undefined) settings.assignmentDelayMs = options.assignmentDelayMs;
  if (options.strictCsr !== undefined) settings.strictCsr = options.strictCsr;
  if (options.registrationsPerMinute !== undefined)
    settings.registrationsPerMinute = options.registrationsPerMinute;
  store.setMeta("settings", settings);
  return settings;
}

/** Loads the simulator's state, creating what a first start needs (identity, TLS PKI, ADR namespace). */
export async function loadState(options: {
  store: Store;
  vault: KeyVault;
  clock: Clock;
  host: string;
  start: StartSimulatorOptions;
}): Promise<SimState> {
  const { store, vault, clock } = options;
  let instance = store.getMeta<Instance>("instance");
  const firstStart = instance === undefined;
  if (instance === undefined) {
    instance = {
      idScope: newIdScope(),
      subscriptionId: randomUUID(),
      created: new Date(clock.now()).toISOString(),
    };
    store.setMeta("instance", instance);
  }
  const tls = await ensureTlsMaterial(vault, {
    extraNames: [options.host],
    clock,
    root: options.start.tlsRoot,
  });
  options.start.signal?.throwIfAborted();
  return {
    instance,
    firstStart,
    namespace: await ensureNamespace(store, vault, instance, clock),
    settings: resolveSettings(store, options.start),
    tls,
    previousPorts: store.getMeta<Partial<Ports>>("ports") ?? {},
  };
}

/** First start: the default credential policy. */
export async function seedPolicy(context: SimContext): Promise<void> {
  await putPolicy(context, DEFAULT_POLICY, LIMITS.defaultValidityDays);
}

/** First start: a symmetric-key enrollment group tied to the default policy. */
export function seedEnrollmentGroup(store: Store, now: string): void {
  const group: Enrollment = {
    kind: "group",
    id: DEFAULT_GROUP_ID,
    attestation: {
      type: "symmetricKey",
      primaryKey: randomBytes(64).toString("base64"),
      secondaryKey: randomBytes(64).toString("base64"),
    },
    enabled: true,
    credentialPolicy: DEFAULT_POLICY,
    allocationPolicy: "hashed",
    reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
    etag: newEtag(),
    createdDateTimeUtc: now,
    lastUpdatedDateTimeUtc: now,
  };
  store.putEnrollment(group);
  store.addEvent(now, "enrollment.created", group.id, {
    kind: "group",
    attestation: "symmetricKey",
    default: true,
  });
}

/** The simulator's own hubs follow its host name (`localhost:PORT`, or a bare `localhost` in edge mode); created on first start. */
export function syncLocalHub(store: Store, hostname: string, now: string): void {
  const localHubs = store.listHubs().filter((item) => item.local);
  if (localHubs.length === 0) {
    store.putHub({
      name: DEFAULT_HUB_NAME,
      hostname,
      local: true,
      allocationWeight: 1,
      applyAllocationPolicy: true,
      created: now,
    });
    return;
  }
  for (const item of localHubs) store.putHub({ ...item, hostname });
}
