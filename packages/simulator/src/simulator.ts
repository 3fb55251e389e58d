import { rm } from "node:fs/promises";
import { join } from "node:path";
import { noopLogger, systemClock } from "@skittlesorter/core";
import { writeFileAtomic } from "@skittlesorter/csr";
import { AdminClient } from "./admin/client.ts";
import { loadState, type SimState, seedEnrollmentGroup, seedPolicy, syncLocalHub } from "./bootstrap.ts";
import { buildConfig, SIM_JSON, type SimConfig, type SimConfigOnDisk } from "./config.ts";
import { openDataDir } from "./data-dir.ts";
import { EDGE_HOST_NAME } from "./edge/endpoints.ts";
import { SimulatorError } from "./errors.ts";
import { checkOptions, DEFAULT_HOST, type StartSimulatorOptions } from "./options.ts";
import { Cleanups, createServices, startEndpoints } from "./services.ts";
import type { SimContext } from "./state/context.ts";
import { IN_MEMORY, Store } from "./state/store.ts";
import { FileVault, type KeyVault, MemoryVault } from "./state/vault.ts";

const DATABASE_FILE = "sim.db";

/** A running simulator. */
export interface Simulator<Config extends SimConfig = SimConfig> extends AsyncDisposable {
  /** The `sim.json` object (kept current: enrollments, hubs and settings changes show). */
  readonly config: Config;
  /** Absolute path of `sim.json`; undefined in memory. */
  readonly configFile: Config extends SimConfigOnDisk ? string : string | undefined;
  /** A typed client of the admin API. */
  readonly admin: AdminClient;
  /** Stops every endpoint, flushes the database, removes `sim.json`. Idempotent. Also `await using`. */
  close(): Promise<void>;
}

interface Storage {
  store: Store;
  vault: KeyVault;
  dataDir: string | undefined;
  configFile: string | undefined;
}

async function openStorage(options: StartSimulatorOptions, cleanups: Cleanups): Promise<Storage> {
  if (options.dataDir === undefined) {
    const store = Store.open(IN_MEMORY);
    cleanups.add(() => store.close());
    return { store, vault: new MemoryVault(), dataDir: undefined, configFile: undefined };
  }
  const { dir, unlock } = await openDataDir(options.dataDir);
  cleanups.add(unlock);
  const configFile = join(dir, SIM_JSON);
  await rm(configFile, { force: true });
  const store = Store.open(join(dir, DATABASE_FILE));
  cleanups.add(() => store.close());
  return { store, vault: new FileVault(join(dir, "pki")), dataDir: dir, configFile };
}

function createContext(
  storage: Storage,
  state: SimState,
  options: StartSimulatorOptions,
  onChange: () => Promise<void>,
): SimContext & { current: SimConfig | undefined } {
  const { store } = storage;
  const clock = options.clock ?? systemClock;
  const nowIso = (): string => new Date(clock.now()).toISOString();
  const context = {
    store,
    clock,
    logger: options.logger ?? noopLogger,
    vault: storage.vault,
    idScope: state.instance.idScope,
    adrNamespace: state.namespace.name,
    current: undefined as SimConfig | undefined,
    settings: () => state.settings,
    updateSettings(patch: Partial<SimState["settings"]>) {
      state.settings = { ...state.settings, ...patch };
      store.setMeta("settings", state.settings);
      store.addEvent(nowIso(), "settings.updated", "settings", { ...patch });
      return state.settings;
    },
    config: () => (context.current === undefined ? {} : { ...context.current }),
    changed: onChange,
    nowIso,
  };
  return context;
}

/**
 * Starts the simulator. With `dataDir` it opens (or creates) the state there and writes `sim.json`; without, it
 * runs in memory and writes nothing. On first start it creates everything a demo needs (TLS root and server
 * certificate, ID scope, ADR namespace with credential and default policy, one linked hub, a symmetric-key
 * enrollment group tied to the policy). Resolves once every endpoint listens.
 */
export async function startSimulator(
  options: StartSimulatorOptions & { dataDir: string },
): Promise<Simulator<SimConfigOnDisk>>;
export async function startSimulator(options?: StartSimulatorOptions): Promise<Simulator>;
export async function startSimulator(options: StartSimulatorOptions = {}): Promise<Simulator> {
  options.signal?.throwIfAborted();
  checkOptions(options);
  const logger = options.logger ?? noopLogger;
  const host = options.host ?? DEFAULT_HOST;
  const cleanups = new Cleanups((message, fields) => logger.warn(message, fields));
  try {
    const storage = await openStorage(options, cleanups);
    const { store } = storage;
    const state = await loadState({
      store,
      vault: storage.vault,
      clock: options.clock ?? systemClock,
      host,
      start: options,
    });
    const writeConfig = async (): Promise<void> => {
      if (storage.configFile === undefined) return;
      await writeFileAtomic(storage.configFile, `${JSON.stringify(context.current, null, 2)}\n`, {
        mode: 0o600,
      });
    };
    const context = createContext(storage, state, options, async () => {
      if (context.current === undefined) return;
      context.current = build();
      await writeConfig();
    });
    if (state.firstStart) await seedPolicy(context);
    const services = createServices(context, state, options);
    cleanups.add(() => services.hub.close());
    const ports = await startEndpoints(context, services, state, { ...options, host }, cleanups);
    // Edge ports are not remembered: a later start without edge mode keeps its own (free) ports.
    if (options.edge !== true) store.setMeta("ports", ports);
    syncLocalHub(store, options.edge === true ? EDGE_HOST_NAME : `localhost:${ports.hub}`, context.nowIso());
    if (state.firstStart) seedEnrollmentGroup(store, context.nowIso());
    const build = (): SimConfig =>
      buildConfig({
        store,
        vault: storage.vault,
        dataDir: storage.dataDir,
        host,
        edge: options.edge === true,
        idScope: state.instance.idScope,
        namespace: state.namespace,
        adr: services.adr,
        trustedCa: state.tls.rootPem,
        trustedCaFile: state.tls.rootFile,
        ports,
        settings: () => state.settings,
      });
    context.current = build();
    options.signal?.throwIfAborted();
    await writeConfig();
    if (storage.configFile !== undefined) {
      const configFile = storage.configFile;
      cleanups.add(() => rm(configFile, { force: true }));
    }
    store.addEvent(context.nowIso(), "simulator.started", state.instance.idScope, {
      ...ports,
      firstStart: state.firstStart,
    });
    logger.info("simulator started", {
      idScope: state.instance.idScope,
      ...ports,
      dataDir: storage.dataDir ?? IN_MEMORY,
    });
    return running(context, storage, cleanups, state);
  } catch (error) {
    await cleanups.run();
    if (error instanceof SimulatorError || options.signal?.aborted) throw error;
    throw new SimulatorError(
      "SIM_START_FAILED",
      `The simulator could not start: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

function running(
  context: SimContext & { current: SimConfig | undefined },
  storage: Storage,
  cleanups: Cleanups,
  state: SimState,
): Simulator {
  const admin = new AdminClient((context.current as SimConfig).http.url);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        context.store.addEvent(context.nowIso(), "simulator.stopped", state.instance.idScope, {});
      } catch {
        // the store may already be unusable; closing goes on
      }
      await cleanups.run();
      context.logger.info("simulator stopped", { dataDir: storage.dataDir ?? IN_MEMORY });
    })();
    return closing;
  };
  return {
    get config() {
      return context.current as SimConfig;
    },
    configFile: storage.configFile,
    admin,
    close,
    [Symbol.asyncDispose]: close,
  };
}
