/**
 * Compares the desired graph with what was read and decides, per resource:
 * create, update, replace, delete (only with allowDataLoss), release, or
 * nothing. Also records a fingerprint of everything read so a saved plan
 * can refuse to run once reality has moved.
 */
import { fingerprint } from "../util/stable-json.ts";
import { topologicalOrder } from "./graph.ts";
import type { HostConnection, Plan, PlannedChange, UnmanagedResource } from "./plan-types.ts";
import { summarize } from "./plan-types.ts";
import type { OwnedResource, Provider } from "./provider.ts";
import type { Actual } from "./read.ts";
import type { DesiredGraph } from "./resource.ts";

export interface PlanOptions {
  readonly providers: readonly Provider[];
  readonly configFile: string;
  readonly hosts: readonly HostConnection[];
  /** Removed resources that hold data are destroyed instead of released. */
  readonly allowDataLoss?: boolean;
  readonly now?: Date;
}

export function computePlan(graph: DesiredGraph, actual: Actual, options: PlanOptions): Plan {
  const providers = new Map(options.providers.map((p) => [p.type, p]));
  const provider = (type: string): Provider => {
    const found = providers.get(type);
    if (found === undefined) throw new Error(`no provider for resource type "${type}"`);
    return found;
  };
  const changes: PlannedChange[] = [];
  const unmanaged: UnmanagedResource[] = [];
  const bindings: Record<string, string | null> = {};
  const desiredAddresses = new Set(graph.resources.map((r) => r.address));

  for (const resource of graph.resources) {
    const p = provider(resource.type);
    const observed = actual.observed.get(resource.address);
    const base = {
      address: resource.address,
      type: resource.type,
      noun: p.noun,
      host: resource.host,
      ...(resource.service === undefined ? {} : { service: resource.service }),
      name: resource.name,
    };
    if (observed === undefined) {
      bindings[resource.address] = null;
      changes.push({
        ...base,
        action: "create",
        fields: p.describe(resource),
        resource,
        after: resource.dependsOn,
      });
      continue;
    }
    bindings[resource.address] = fingerprint(observed.state);
    const fields = p.diff(resource, observed);
    if (!observed.managed) {
      unmanaged.push({ ...base, configPath: resource.configPath, fields, resource, observed });
      continue;
    }
    if (fields.length === 0) continue;
    const replace = fields.some((f) => f.forcesReplace === true);
    const used = observed.info?.used;
    changes.push({
      ...base,
      action: replace ? "replace" : "update",
      fields,
      resource,
      observed,
      after: resource.dependsOn,
      ...(replace && p.holdsData ? { dataLoss: typeof used === "number" ? { used } : {} } : {}),
    });
  }

  for (const owned of actual.owned) {
    if (desiredAddresses.has(owned.address)) continue;
    const p = provider(owned.type);
    bindings[owned.address] = fingerprint(owned.observed.state);
    const destroy = options.allowDataLoss === true || !p.holdsData;
    const used = owned.observed.info?.used;
    changes.push({
      address: owned.address,
      type: owned.type,
      noun: p.noun,
      action: destroy ? "delete" : "release",
      host: owned.host,
      ...(owned.service === undefined ? {} : { service: owned.service }),
      name: owned.name,
      fields: [],
      observed: owned.observed,
      owned,
      // Removals run inside-out: a child goes before the parent it lives in.
      after: actual.owned.filter((o) => o.dependsOn.includes(owned.address)).map((o) => o.address),
      ...(destroy && p.holdsData ? { dataLoss: typeof used === "number" ? { used } : {} } : {}),
    });
  }

  orderConflicts(changes, provider);

  const changed = new Set(changes.map((c) => c.address));
  const pruned = changes.map((c) => ({
    ...c,
    after: c.after.filter((a) => changed.has(a) && a !== c.address),
  }));
  const order = topologicalOrder(pruned.map((c) => ({ id: c.address, after: c.after })));
  const rank = new Map(order.map((id, i) => [id, i]));
  pruned.sort((a, b) => (rank.get(a.address) ?? 0) - (rank.get(b.address) ?? 0));

  return {
    formatVersion: "1",
    lab: graph.lab,
    createdAt: (options.now ?? new Date()).toISOString(),
    configFile: options.configFile,
    hosts: options.hosts,
    changes: pruned,
    unmanaged,
    ...(actual.warnings !== undefined && actual.warnings.length > 0
      ? { warnings: actual.warnings }
      : {}),
    bindings,
    summary: summarize(pruned),
  };
}

/**
 * A desired change waits for the removal of every owned resource its
 * provider says it cannot coexist with (`Provider.conflictsWith`): the old
 * record goes first, then the new one is made. Removals never wait for a
 * desired change, so this adds no cycle.
 */
function orderConflicts(changes: PlannedChange[], provider: (type: string) => Provider): void {
  const removals: OwnedResource[] = changes.flatMap((c) =>
    c.owned === undefined ? [] : [c.owned],
  );
  if (removals.length === 0) return;
  for (const [i, change] of changes.entries()) {
    const resource = change.resource;
    if (resource === undefined || change.owned !== undefined) continue;
    const p = provider(change.type);
    if (p.conflictsWith === undefined) continue;
    const removed = removals.filter((o) => o.type === change.type && o.host === change.host);
    if (removed.length === 0) continue;
    const removable = new Set(removed.map((o) => o.address));
    const first = p.conflictsWith(resource, removed).filter((a) => removable.has(a));
    if (first.length > 0) changes[i] = { ...change, after: [...change.after, ...first] };
  }
}

/** Addresses whose fingerprint differs between a saved plan and a fresh read. */
export function staleBindings(
  saved: Plan,
  fresh: Plan,
): { address: string; was: string | null; now: string | null }[] {
  const stale: { address: string; was: string | null; now: string | null }[] = [];
  const addresses = new Set([...Object.keys(saved.bindings), ...Object.keys(fresh.bindings)]);
  for (const address of [...addresses].sort()) {
    const was = Object.hasOwn(saved.bindings, address)
      ? (saved.bindings[address] ?? null)
      : undefined;
    const now = Object.hasOwn(fresh.bindings, address)
      ? (fresh.bindings[address] ?? null)
      : undefined;
    if (was === undefined && now === null) continue; // still absent and not desired
    if (was !== now) stale.push({ address, was: was ?? null, now: now ?? null });
  }
  return stale;
}
