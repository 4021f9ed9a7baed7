/**
 * The programmatic `plan`: host facts → model → read → diff. The CLI, the
 * daemon and the tests all call this; nothing here prints.
 */
import { configInvalid } from "../config/load.ts";
import type { ResolvedLab } from "../config/types.ts";
import { computePlan } from "../engine/plan.ts";
import type { HostConnection, Plan } from "../engine/plan-types.ts";
import type { Provider, ProviderStore } from "../engine/provider.ts";
import { readActual } from "../engine/read.ts";
import type { DesiredGraph } from "../engine/resource.ts";
import type { Connections } from "../hosts/connect.ts";
import { type HostFacts, readHostFacts } from "../hosts/facts.ts";
import { detectPublicAddress } from "../hosts/public-address.ts";
import { compileLab } from "../model/compile.ts";
import { EDGE_HOST } from "../util/edge-host.ts";
import type { LabSecrets } from "./secrets.ts";

export interface PlanLabOptions {
  readonly connections: Connections;
  readonly providers: readonly Provider[];
  readonly allowDataLoss?: boolean;
  /**
   * The lab's secrets (see openLabSecrets); without it, secrets are not checked.
   * A promise lets the key and file be read while the hosts are.
   */
  readonly secrets?: LabSecrets | Promise<LabSecrets>;
  /** The lab's provider files (certificates, DNS ownership); see store/provider-store.ts. */
  readonly store?: ProviderStore;
}

export interface LabPlan {
  readonly graph: DesiredGraph;
  readonly plan: Plan;
}

/** How to reach each host; plus the edge pseudo-host (this machine) when the lab has DNS zones. */
export function hostConnections(lab: ResolvedLab): HostConnection[] {
  const hosts: HostConnection[] = Object.values(lab.hosts).map((h) => ({
    name: h.name,
    address: h.address,
    connect: h.connect,
  }));
  if (lab.dns !== null) {
    hosts.push({ name: EDGE_HOST, address: "127.0.0.1", connect: { kind: "local" } });
  }
  return hosts;
}

/** The facts of the given hosts (default: all of the lab's), read at once. */
export async function readLabFacts(
  lab: ResolvedLab,
  connections: Connections,
  hosts: readonly string[] = Object.keys(lab.hosts).sort(),
): Promise<Record<string, HostFacts>> {
  const facts: Record<string, HostFacts> = {};
  await Promise.all(
    hosts.map(async (host) => {
      facts[host] = await readHostFacts(host, await connections.execFor(host));
    }),
  );
  return facts;
}

export async function planLab(lab: ResolvedLab, options: PlanLabOptions): Promise<LabPlan> {
  const secretsReady = Promise.resolve(options.secrets);
  // Handled below, after the facts; this only keeps an early failure from counting as unhandled.
  secretsReady.catch(() => {});
  const publicReady = detectPublicAddresses(lab);
  publicReady.catch(() => {});
  const facts = await readLabFacts(lab, options.connections);
  const secrets = await secretsReady;
  const publicAddresses = await publicReady;
  const { graph, problems } = compileLab(lab, facts, {
    ...(secrets === undefined ? {} : { secrets: secrets.digests }),
    ...(publicAddresses === undefined
      ? {}
      : {
          publicAddresses: publicAddresses.addresses,
          ...(publicAddresses.error === null ? {} : { publicAddressError: publicAddresses.error }),
        }),
  });
  if (problems.length > 0) throw configInvalid(lab.file, problems);
  return planGraph(graph, lab.file, hostConnections(lab), {
    ...options,
    ...(secrets === undefined ? {} : { secrets }),
  });
}

/** Reads and diffs an already compiled graph (also used to re-check saved plans). */
export async function planGraph(
  graph: DesiredGraph,
  configFile: string,
  hosts: readonly HostConnection[],
  options: PlanLabOptions,
): Promise<LabPlan> {
  const secrets = await options.secrets;
  const actual = await readActual(graph, {
    providers: options.providers,
    hosts: hosts.map((h) => h.name),
    execFor: (host) => options.connections.execFor(host),
    ...(secrets === undefined ? {} : { secretValue: (name: string) => secrets.value(name) }),
    ...(options.store === undefined ? {} : { store: options.store }),
  });
  if (actual.problems.length > 0) throw configInvalid(configFile, actual.problems);
  const plan = computePlan(graph, actual, {
    providers: options.providers,
    configFile,
    hosts,
    allowDataLoss: options.allowDataLoss ?? false,
  });
  return { graph, plan };
}

/**
 * The public address of each host with `public: "auto"` that serves a direct
 * public service, asked of `dns.publicIpUrl` once for all of them (holt runs
 * on the lab's network, so they share its address). Undefined when no host
 * needs one; a failed lookup leaves the hosts out (the model reports them).
 */
export async function detectPublicAddresses(
  lab: ResolvedLab,
): Promise<{ addresses: Record<string, string>; error: string | null } | undefined> {
  if (lab.dns === null) return undefined;
  const hosts = Object.values(lab.services)
    .filter((s) => s.expose.kind === "public" && s.expose.via === "direct")
    .map((s) => lab.hosts[s.host])
    .filter((h) => h?.public === "auto")
    .map((h) => h?.name ?? "");
  if (hosts.length === 0) return undefined;
  try {
    const address = await detectPublicAddress(lab.dns.publicIpUrl);
    return { addresses: Object.fromEntries(hosts.map((h) => [h, address])), error: null };
  } catch (error) {
    return { addresses: {}, error: (error as Error).message };
  }
}
