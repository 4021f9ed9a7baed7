/**
 * Which snapshots a retention policy keeps, as a pure function of the
 * snapshots and the policy (no clock: "now" never decides anything).
 *
 * Each kind keeps the newest snapshot of each of the N most recent periods
 * that have a snapshot, as `restic forget --keep-hourly` does: a period
 * without a snapshot does not count. So when snapshotting stalls for a week,
 * nothing becomes "too old" to keep: the last 24 hourly snapshots are still
 * the 24 newest hours that have one. Periods are UTC hours, days, ISO weeks
 * (from Monday), months and years; `last` keeps the N newest snapshots
 * (each one its own period, restic's `--keep-last`). The kinds count apart:
 * one snapshot can be the newest of its hour, its day and its year, and
 * counts once in each, as in restic's `ApplyPolicy`.
 *
 * On top of the policy, a snapshot is always kept when it is the newest one,
 * when something holds it (a replication base), or when holt did not make it.
 * A policy whose counts are all zero keeps everything, as `restic forget`
 * with no policy does (the counts alone would leave only the newest). The
 * config refuses such a policy, so the user says what they mean; this is
 * the reading that destroys nothing when one gets here some other way.
 *
 * restic 0.16 and later also keep the oldest snapshot while a kind has
 * counts left; restic 0.14 and 0.15 (Debian 12 ships 0.14) do not, nor does
 * holt. restic buckets each snapshot by the wall-clock time it stored with
 * it, in the zone restic ran in when it made the copy: holt runs restic in
 * UTC (`backup/offsite.ts`), so its periods are these.
 */

export interface RetentionPolicy {
  readonly last: number;
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly yearly: number;
}

export interface SnapshotInfo {
  /** The snapshot's name after "@". */
  readonly name: string;
  /** Creation time, ms since the epoch. */
  readonly createdMs: number;
  /** Made by holt (its name has holt's prefix and holt's ownership mark). */
  readonly holt: boolean;
  /** Held (`zfs hold`), e.g. the base of the next incremental replication. */
  readonly held: boolean;
}

export type RetentionKind = keyof RetentionPolicy;

export type KeepReason = RetentionKind | "newest" | "held" | "not holt's" | "empty policy";

export interface RetentionDecision {
  readonly keep: ReadonlyMap<string, readonly KeepReason[]>;
  /** holt's snapshots the policy no longer keeps, oldest first. */
  readonly prune: readonly string[];
}

/** The kinds in restic's order. */
export const RETENTION_KINDS = [
  "last",
  "hourly",
  "daily",
  "weekly",
  "monthly",
  "yearly",
] as const satisfies readonly RetentionKind[];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The period a snapshot falls in; `index` is its place, newest first (each its own for `last`). */
function periodOf(kind: RetentionKind, ms: number, index: number): number {
  switch (kind) {
    case "last":
      return index;
    case "hourly":
      return Math.floor(ms / HOUR);
    case "daily":
      return Math.floor(ms / DAY);
    case "weekly":
      // 1970-01-01 was a Thursday; shift so that weeks start on Monday, as ISO weeks do.
      return Math.floor((ms + 3 * DAY) / (7 * DAY));
    case "monthly": {
      const d = new Date(ms);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
    case "yearly":
      return new Date(ms).getUTCFullYear();
  }
}

export function decideRetention(
  snapshots: readonly SnapshotInfo[],
  policy: RetentionPolicy,
): RetentionDecision {
  // Newest first; equal times by name, so the result never depends on input order.
  const sorted = [...snapshots].sort(
    (a, b) => b.createdMs - a.createdMs || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0),
  );
  const keep = new Map<string, KeepReason[]>();
  const add = (name: string, reason: KeepReason) => {
    const reasons = keep.get(name) ?? [];
    if (!reasons.includes(reason)) reasons.push(reason);
    keep.set(name, reasons);
  };
  for (const s of sorted) {
    if (!s.holt) add(s.name, "not holt's");
    if (s.held) add(s.name, "held");
  }
  const ours = sorted.filter((s) => s.holt);
  const newest = ours[0];
  if (newest !== undefined) add(newest.name, "newest");
  if (isEmptyPolicy(policy)) {
    for (const s of ours) add(s.name, "empty policy");
    return { keep, prune: [] };
  }
  for (const kind of RETENTION_KINDS) {
    const limit = Math.max(0, Math.floor(policy[kind]));
    let lastPeriod: number | undefined;
    let kept = 0;
    for (const [index, s] of ours.entries()) {
      if (kept >= limit) break;
      const period = periodOf(kind, s.createdMs, index);
      if (period === lastPeriod) continue;
      lastPeriod = period;
      add(s.name, kind);
      kept++;
    }
  }
  const prune = ours
    .filter((s) => !keep.has(s.name))
    .map((s) => s.name)
    .reverse();
  return { keep, prune };
}

/** Every count is 0 (or below): restic reads such a policy as "keep everything". */
export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return RETENTION_KINDS.every((kind) => !(Math.floor(policy[kind]) > 0));
}

/**
 * The `restic forget` flags that keep what `decideRetention` keeps of the
 * same copies: a flag per kind, and `--keep-last` at least 1 for the newest.
 * None for an empty policy, which restic reads as "keep everything".
 */
export function resticKeepFlags(policy: RetentionPolicy): string[] {
  if (isEmptyPolicy(policy)) return [];
  return RETENTION_KINDS.flatMap((kind) => {
    const count = Math.max(0, Math.floor(policy[kind]));
    const n = kind === "last" ? Math.max(1, count) : count;
    return n > 0 ? [`--keep-${kind}`, String(n)] : [];
  });
}
