/** The lab's state datasets with their backup policy, once each host's state root is known. */
import type { ResolvedBackupPolicy, ResolvedLab } from "../config/types.ts";
import type { Connections } from "../hosts/connect.ts";
import { readLabFacts } from "../lab/plan.ts";
import { type LabFacts, resolveStateRoot } from "../model/compile.ts";

export interface StateDataset {
  readonly service: string;
  readonly entry: string;
  readonly host: string;
  /** `<stateRoot>/<service>/<entry>`. */
  readonly dataset: string;
  /** null for `backup: false`. */
  readonly policy: ResolvedBackupPolicy | null;
}

/** Every state dataset of these services (all when none are named), by service then entry. */
export function stateDatasets(
  lab: ResolvedLab,
  facts: LabFacts,
  services?: readonly string[],
): StateDataset[] {
  const out: StateDataset[] = [];
  for (const name of Object.keys(lab.services).sort()) {
    if (services !== undefined && !services.includes(name)) continue;
    const service = lab.services[name];
    const host = service === undefined ? undefined : lab.hosts[service.host];
    if (service === undefined || host === undefined) continue;
    const root = resolveStateRoot(host, facts[host.name]);
    if (root === null) continue;
    for (const entry of service.state) {
      out.push({
        service: name,
        entry: entry.name,
        host: host.name,
        dataset: `${root}/${name}/${entry.name}`,
        policy: entry.backup === null ? null : (lab.backups.policies[entry.backup] ?? null),
      });
    }
  }
  return out;
}

/**
 * The facts a backup step was given (one read per command), or a fresh read
 * of only the hosts whose state root cannot be known without them: a replica
 * host needs no read before its first command.
 */
export function factsFor(
  lab: ResolvedLab,
  connections: Connections,
  given?: LabFacts,
  services?: readonly string[],
): Promise<LabFacts> {
  if (given !== undefined) return Promise.resolve(given);
  const hosts = new Set<string>();
  for (const [name, service] of Object.entries(lab.services)) {
    if (services !== undefined && !services.includes(name)) continue;
    const host = lab.hosts[service.host];
    if (host === undefined || service.state.length === 0) continue;
    if (resolveStateRoot(host, undefined) === null) hosts.add(host.name);
  }
  return readLabFacts(lab, connections, [...hosts].sort());
}
