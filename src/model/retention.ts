/**
 * Which snapshots a retention policy keeps, as a pure function of the
 * snapshots and the policy (no clock: "now" never decides anything).
 *
 * Each kind keeps the newest snapshot of each of the N most recent periods
 * that have a snapshot, as `restic forget --keep-hourly` does: a period
 * without a snapshot does not count. So when snapshotting stalls for a week,
 * nothing becomes "too old" to keep: the last 24 hourly snapshots are still
 * the 24 newest hours that have one. Periods are UTC hours, days, ISO weeks
 * (from Monday) and months.
 *
 * On top of the policy, a snapshot is always kept when it is the newest one,
 * when something holds it (a replication base), or when holt did not make it.
 */

export interface RetentionPolicy {
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
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

export type KeepReason =
  | "hourly"
  | "daily"
  | "weekly"
  | "monthly"
  | "newest"
  | "held"
  | "not holt's";

export interface RetentionDecision {
  readonly keep: ReadonlyMap<string, readonly KeepReason[]>;
  /** holt's snapshots the policy no longer keeps, oldest first. */
  readonly prune: readonly string[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function periodOf(kind: "hourly" | "daily" | "weekly" | "monthly", ms: number): number {
  switch (kind) {
    case "hourly":
      return Math.floor(ms / HOUR);
    case "daily":
      return Math.floor(ms / DAY);
    case "weekly": {
      // 1970-01-01 was a Thursday; shift so that weeks start on Monday.
      return Math.floor((ms + 3 * DAY) / (7 * DAY));
    }
    case "monthly": {
      const d = new Date(ms);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
  }
}

const KINDS = ["hourly", "daily", "weekly", "monthly"] as const;

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
  for (const kind of KINDS) {
    const limit = Math.max(0, Math.floor(policy[kind]));
    let lastPeriod: number | undefined;
    let kept = 0;
    for (const s of ours) {
      if (kept >= limit) break;
      const period = periodOf(kind, s.createdMs);
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
