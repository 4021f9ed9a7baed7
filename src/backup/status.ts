/**
 * `holt backup status`: per state dataset, its policy, its newest local
 * snapshot and its age, and the 3-2-1 verdict (three copies, on two
 * machines, one offsite) from what the policy asks for. Replica and offsite
 * copies are not read yet: they show as what the policy configures.
 */
import type { ResolvedLab } from "../config/types.ts";
import type { Connections } from "../hosts/connect.ts";
import { readLabFacts } from "../lab/plan.ts";
import { resolveStateRoot } from "../model/compile.ts";
import { listSnapshots } from "./zfs-snapshots.ts";

export interface DatasetBackupStatus {
  readonly service: string;
  readonly host: string;
  readonly dataset: string;
  /** Policy name, or null for `backup: false`. */
  readonly policy: string | null;
  /** holt's newest snapshot here, and when it was taken (ISO); null for none. */
  readonly newest: { readonly name: string; readonly at: string } | null;
  readonly snapshots: number;
  readonly replica: string | null;
  readonly offsite: string | null;
  /** "3-2-1", or what is missing, e.g. "1 copy (no replica, no offsite)". */
  readonly verdict: string;
  readonly ok: boolean;
}

export function verdictOf(replica: boolean, offsite: boolean): { text: string; ok: boolean } {
  if (replica && offsite) return { text: "3-2-1", ok: true };
  const copies = 1 + (replica ? 1 : 0) + (offsite ? 1 : 0);
  const missing = [
    replica ? null : "no replica on another machine",
    offsite ? null : "no offsite copy",
  ]
    .filter((m) => m !== null)
    .join(", ");
  return { text: `${copies} ${copies === 1 ? "copy" : "copies"} (${missing})`, ok: false };
}

export async function backupStatus(
  lab: ResolvedLab,
  connections: Connections,
): Promise<DatasetBackupStatus[]> {
  const facts = await readLabFacts(lab, connections);
  const out: DatasetBackupStatus[] = [];
  for (const service of Object.values(lab.services).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const host = lab.hosts[service.host];
    const root = host === undefined ? null : resolveStateRoot(host, facts[host.name]);
    if (host === undefined || root === null || service.state.length === 0) continue;
    const exec = await connections.execFor(host.name);
    const snaps = await listSnapshots(exec, `${root}/${service.name}`, lab.name);
    for (const entry of service.state) {
      const dataset = `${root}/${service.name}/${entry.name}`;
      const ours = snaps
        .filter((s) => s.dataset === dataset && s.holt)
        .sort((a, b) => b.createdMs - a.createdMs);
      const policy = entry.backup === null ? undefined : lab.backups.policies[entry.backup];
      const replica =
        policy?.replica == null ? null : `${policy.replica.host}:${policy.replica.dataset}`;
      const offsite = policy?.offsite == null ? null : policy.offsite.repository;
      const newest = ours[0];
      const verdict =
        entry.backup === null
          ? { text: "not backed up (backup: false)", ok: true }
          : newest === undefined
            ? { text: "no snapshot yet: run holt backup run", ok: false }
            : verdictOf(replica !== null, offsite !== null);
      out.push({
        service: service.name,
        host: host.name,
        dataset,
        policy: entry.backup,
        newest:
          newest === undefined
            ? null
            : { name: newest.name, at: new Date(newest.createdMs).toISOString() },
        snapshots: ours.length,
        replica,
        offsite,
        verdict: verdict.text,
        ok: verdict.ok,
      });
    }
  }
  return out;
}

/**
 * What the config alone says about 3-2-1, for `holt plan`: each state entry
 * whose policy lacks a replica on another machine or an offsite copy. Entries
 * with `backup: false` are listed apart, as a choice, not a gap.
 */
export function backupGaps(lab: ResolvedLab): { short: string[]; optedOut: string[] } {
  const short: string[] = [];
  const optedOut: string[] = [];
  for (const service of Object.values(lab.services).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    for (const entry of service.state) {
      const name = `${service.name}/${entry.name}`;
      if (entry.backup === null) {
        optedOut.push(name);
        continue;
      }
      const policy = lab.backups.policies[entry.backup];
      const verdict = verdictOf(policy?.replica != null, policy?.offsite != null);
      if (!verdict.ok) short.push(`${name} (${verdict.text})`);
    }
  }
  return { short, optedOut };
}
