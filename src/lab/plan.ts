/**
 * The programmatic `plan`: host facts → model → read → diff. The CLI, the
 * daemon and the tests all call this; nothing here prints.
 */
import { configInvalid } from "../config/load.ts";
import type { ResolvedLab } from "../config/types.ts";
import { computePlan } from "../engine/plan.ts";
import type { HostConnection, Plan } from "../engine/plan-types.ts";
import type { Provider } from "../engine/provider.ts";
import { readActual } from "../engine/read.ts";
import type { DesiredGraph } from "../engine/resource.ts";
import type { Connections } from "../hosts/connect.ts";
import { type HostFacts, readHostFacts } from "../hosts/facts.ts";
import { compileLab } from "../model/compile.ts";
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
}

export interface LabPlan {
  readonly graph: DesiredGraph;
  readonly plan: Plan;
}

export function hostConnections(lab: ResolvedLab): HostConnection[] {
  return Object.values(lab.hosts).map((h) => ({
    name: h.name,
    address: h.address,
    connect: h.connect,
  }));
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
  const facts = await readLabFacts(lab, options.connections);
  const secrets = await secretsReady;
  const { graph, problems } = compileLab(
    lab,
    facts,
    secrets === undefined ? {} : { secrets: secrets.digests },
  );
  if (problems.length > 0) throw configInvalid(lab.file, problems);
  return planGraph(graph, lab.file, hostConnections(lab), options);
}

/** Reads and diffs an already compiled graph (also used to re-check saved plans). */
export async function planGraph(
  graph: DesiredGraph,
  configFile: string,
  hosts: readonly HostConnection[],
  options: PlanLabOptions,
): Promise<LabPlan> {
  const actual = await readActual(graph, {
    providers: options.providers,
    hosts: hosts.map((h) => h.name),
    execFor: (host) => options.connections.execFor(host),
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
