/**
 * `holt backup status`: per state dataset, its policy, its newest local
 * snapshot (read live), its newest replica and offsite copy and its last
 * verified restore (from the catalog the backup commands write), each with
 * its age, the 3-2-1 verdict (three copies, on two machines, one offsite),
 * and its problems: a copy older than twice the policy's shortest period
 * (stale), or a last attempt that failed. The alerting work pages on those.
 */
import type { ResolvedKeep, ResolvedLab } from "../config/types.ts";
import type { Connections } from "../hosts/connect.ts";
import { resolveStateRoot } from "../model/compile.ts";
import { factsFor } from "./datasets.ts";
import { listSnapshots } from "./zfs-snapshots.ts";

export interface DatasetBackupStatus {
  readonly service: string;
  readonly host: string;
  readonly dataset: string;
  /** Policy name, or null for `backup: false`. */
  readonly policy: string | null;
  /** holt's newest snapshot here, and when it was taken (ISO); null for none. */
  readonly newest: { readonly name: string; readonly at: string; readonly age: string } | null;
  readonly snapshots: number;
  /** Where the policy sends copies: `host:dataset`, a repository's name. */
  readonly replica: string | null;
  readonly offsite: string | null;
  /** The newest copy there (or drill) the catalog recorded as done. */
  readonly replicaCopy: CopyAge | null;
  readonly offsiteCopy: CopyAge | null;
  readonly verified: CopyAge | null;
  /** Stale or failing copies, one line each; empty when all is well. */
  readonly problems: readonly string[];
  /** "3-2-1", or what is missing, e.g. "1 copy (no replica, no offsite)". */
  readonly verdict: string;
  readonly ok: boolean;
}

export interface CopyAge {
  readonly snapshot: string | null;
  /** When the step ran (ISO). */
  readonly at: string;
  /** "3h", "2d": how long ago. */
  readonly age: string;
}

/** A backup step as the catalog keeps it (the backup layer only reads through this). */
export interface StepRecord {
  readonly snapshot: string | null;
  readonly at: string;
  readonly ok: boolean;
  readonly error: string | null;
}

export interface StatusOptions {
  /** Steps of a kind for `host:dataset`, newest first. */
  readonly history?: (
    subject: string,
    kind: "replica" | "offsite" | "verify",
  ) => readonly StepRecord[];
  readonly now?: () => Date;
}

export function formatAge(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.round(hours / 24)}d`;
}

/**
 * Twice the shortest period the keep counts: past it, a copy is stale.
 * `last` alone names no period: a day is assumed, as for a daily schedule.
 */
export function staleAfterMs(keep: ResolvedKeep): number {
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  if (keep.hourly > 0) return 2 * HOUR;
  if (keep.daily > 0) return 2 * DAY;
  if (keep.weekly > 0) return 14 * DAY;
  if (keep.monthly > 0) return 62 * DAY;
  if (keep.yearly > 0) return 2 * 366 * DAY;
  return 2 * DAY;
}

/** How far ahead of the clock a snapshot's time may be before it counts as dated in the future. */
const CLOCK_SLACK_MS = 5 * 60_000;

/**
 * What is wrong with the newest local snapshot's time, or null. A snapshot
 * dated ahead of the clock (taken while a clock ran fast) stays the newest,
 * for retention as for `restic forget`, until real time passes it: it would
 * hide that snapshots stopped, so it is a problem of its own.
 */
export function newestSnapshotProblem(
  newestMs: number,
  nowMs: number,
  staleAfter: number | null,
): string | null {
  if (newestMs - nowMs > CLOCK_SLACK_MS) {
    return `the newest local snapshot is dated ${formatAge(newestMs - nowMs)} ahead of this machine's clock (a clock ran fast when it was taken): it stays the newest until then, and staleness cannot be told. Check the clocks of this machine and the host`;
  }
  if (staleAfter !== null && nowMs - newestMs > staleAfter) {
    return `local snapshots are stale: the newest is ${formatAge(nowMs - newestMs)} old`;
  }
  return null;
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
  options: StatusOptions = {},
): Promise<DatasetBackupStatus[]> {
  const facts = await factsFor(lab, connections);
  const now = (options.now ?? (() => new Date()))().getTime();
  const ageOf = (at: string) => formatAge(now - Date.parse(at));
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
      const subject = `${host.name}:${dataset}`;
      const problems: string[] = [];
      const newestOk = (
        kind: "replica" | "offsite" | "verify",
        what: string,
        stale: number | null,
      ) => {
        const steps = options.history?.(subject, kind) ?? [];
        const last = steps[0];
        const good = steps.find((x) => x.ok);
        if (last !== undefined && !last.ok) {
          problems.push(`${what} failed ${ageOf(last.at)} ago: ${last.error ?? "see holt backup"}`);
        }
        if (good !== undefined && stale !== null && now - Date.parse(good.at) > stale) {
          problems.push(`${what} is stale: the newest is ${ageOf(good.at)} old`);
        }
        return good === undefined
          ? null
          : { snapshot: good.snapshot, at: good.at, age: ageOf(good.at) };
      };
      if (policy !== undefined && newest !== undefined) {
        const problem = newestSnapshotProblem(
          newest.createdMs,
          now,
          staleAfterMs(policy.snapshots),
        );
        if (problem !== null) problems.push(problem);
      }
      out.push({
        service: service.name,
        host: host.name,
        dataset,
        policy: entry.backup,
        newest:
          newest === undefined
            ? null
            : {
                name: newest.name,
                at: new Date(newest.createdMs).toISOString(),
                age: formatAge(now - newest.createdMs),
              },
        snapshots: ours.length,
        replica,
        offsite,
        replicaCopy:
          replica === null
            ? null
            : newestOk(
                "replica",
                "replication",
                policy?.replica == null ? null : staleAfterMs(policy.replica.keep),
              ),
        offsiteCopy:
          offsite === null
            ? null
            : newestOk(
                "offsite",
                "the offsite copy",
                policy?.offsite == null ? null : staleAfterMs(policy.offsite.keep),
              ),
        verified: policy === undefined ? null : newestOk("verify", "the last restore drill", null),
        problems,
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
