// How `skittle adr` reaches a namespace: the options every command takes, and the ADR client they make, for a running
// skittle-sim (--sim) or for Azure (--subscription, --resource-group, --namespace with DefaultAzureCredential).
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  type AdrClient,
  createAdrClient,
  isAdrError,
  staticTokenCredential,
  type TokenCredential,
} from "@skittlesorter/adr-client";
import { type CliIo, usageError } from "@skittlesorter/cli-shell";
import type { Command } from "commander";
import { stderrLogger } from "../../logger.ts";
import { readSimFile, type SimAdr, simAdr, simTrustedCaFile } from "../../sim-file.ts";
import { cliVersion } from "../../version.ts";

export interface ConnectionFlags {
  sim?: string;
  subscription?: string;
  resourceGroup?: string;
  namespace?: string;
  baseUrl?: string;
  timeoutSeconds?: string;
  verbose?: boolean;
  json?: boolean;
}

export function withConnection(command: Command): Command {
  return command
    .option(
      "--sim <file>",
      "sim.json of a running skittle-sim (or its data directory): its ADR endpoint, names and token",
    )
    .option("--subscription <id>", "Azure subscription id")
    .option("--resource-group <name>", "resource group of the ADR namespace")
    .option("--namespace <name>", "ADR namespace")
    .option("--base-url <url>", "ARM endpoint (default https://management.azure.com)")
    .option("--timeout-seconds <n>", "deadline of each request, long-running waits included", "300")
    .option("--verbose", "log each HTTP attempt (method, URL, status; never the token) to stderr")
    .option("--json", "print the result as JSON");
}

export async function connect(flags: ConnectionFlags, io: CliIo): Promise<AdrClient> {
  let sim: SimAdr | undefined;
  let ca: string | undefined;
  if (flags.sim !== undefined) {
    const simFile = await readSimFile(resolve(io.cwd, flags.sim));
    sim = simAdr(simFile);
    const caFile = simTrustedCaFile(simFile);
    if (caFile !== undefined && (flags.baseUrl ?? sim.baseUrl).startsWith("https:")) {
      ca = await readFile(caFile, "utf8");
    }
  }
  const subscriptionId = flags.subscription ?? sim?.subscriptionId;
  const resourceGroup = flags.resourceGroup ?? sim?.resourceGroup;
  const namespace = flags.namespace ?? sim?.namespace;
  const missing = [
    subscriptionId === undefined && "--subscription",
    resourceGroup === undefined && "--resource-group",
    namespace === undefined && "--namespace",
  ].filter((flag): flag is string => flag !== false);
  if (missing.length > 0) {
    throw usageError(
      `say which namespace: pass --sim FILE (a running skittle-sim), or --subscription ID --resource-group NAME --namespace NAME (missing ${missing.join(", ")})`,
    );
  }
  const timeoutText = flags.timeoutSeconds ?? "300";
  const timeoutSeconds = Number(timeoutText);
  if (!/^\d+(\.\d+)?$/.test(timeoutText) || timeoutSeconds <= 0 || timeoutSeconds > 2_000_000) {
    throw usageError(`--timeout-seconds must be a positive number of seconds, got "${timeoutText}"`);
  }
  const credential = sim === undefined ? await defaultCredential() : staticTokenCredential(sim.token);
  const baseUrl = flags.baseUrl ?? sim?.baseUrl;
  try {
    return createAdrClient({
      subscriptionId: subscriptionId as string,
      resourceGroup: resourceGroup as string,
      namespace: namespace as string,
      credential,
      baseUrl,
      ca,
      timeoutMs: timeoutSeconds * 1000,
      userAgentPrefix: `skittle-cli/${cliVersion()}`,
      logger: stderrLogger(io, flags.verbose === true),
    });
  } catch (error) {
    if (isAdrError(error) && error.code === "ADR_INVALID_OPTIONS") throw usageError(error.message);
    throw error;
  }
}

async function defaultCredential(): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import("@azure/identity");
  return new DefaultAzureCredential();
}
