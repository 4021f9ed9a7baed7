/**
 * `holt backup run`: for each service with state to back up, its pre-snapshot
 * hook, one snapshot of all its datasets at once, its post-snapshot hook, and
 * pruning by each dataset's policy. Cron or a timer runs it now; the daemon
 * will call the same function. Nothing here prints.
 *
 * A failing pre-snapshot hook skips that service's snapshot (it would not be
 * consistent) and is reported; the other services go on. The post-snapshot
 * hook runs whenever the pre-snapshot hook did.
 */
import type {
  ResolvedBackupPolicy,
  ResolvedKeep,
  ResolvedLab,
  ResolvedService,
} from "../config/types.ts";
import { HoltError } from "../errors.ts";
import type { Connections } from "../hosts/connect.ts";
import type { Exec } from "../hosts/exec.ts";
import { type LabFacts, resolveStateRoot } from "../model/compile.ts";
import { decideRetention } from "../model/retention.ts";
import { createRedactor } from "../util/redact.ts";
import { factsFor } from "./datasets.ts";
import { type ManifestStore, readManifest } from "./manifest.ts";
import { RESTORING_PROPERTY } from "./restore.ts";
import { destroyScratch, mountClone, scratchFor } from "./scratch.ts";
import {
  type DatasetSnapshot,
  destroySnapshot,
  listSnapshots,
  snapshotName,
  takeSnapshot,
} from "./zfs-snapshots.ts";

export interface ServiceBackupResult {
  readonly service: string;
  readonly host: string;
  /** The snapshot taken, or null when none was. */
  readonly snapshot: string | null;
  /** Snapshots destroyed by retention, as dataset@name. */
  readonly pruned: readonly string[];
  /** What went wrong, or null. */
  readonly error: string | null;
}

export interface BackupRunOptions {
  readonly connections: Connections;
  /** Only these services (default: all with state to back up). */
  readonly services?: readonly string[];
  readonly now?: () => Date;
  /** The lab's host facts, when the caller already read them. */
  readonly facts?: LabFacts;
  /** Where each new snapshot's checksum manifest is kept; none are made without it. */
  readonly manifests?: ManifestStore;
  /**
   * The values of a service's secrets, to hide in what its failed hook
   * printed. Asked only when a hook of a service with secrets fails; without
   * it, or when it throws, such a hook's output is not shown at all.
   */
  readonly secretValues?: (service: string) => Promise<readonly string[]>;
}

/** A hook runs inside the service's container, which holds its secrets: its output may show them. */
async function hook(
  exec: Exec,
  service: ResolvedService,
  argv: readonly string[] | null,
  secretValues: BackupRunOptions["secretValues"],
): Promise<string | null> {
  if (argv === null) return null;
  const r = await exec.run({
    argv: ["podman", "exec", `holt-${service.name}`, ...argv],
    timeoutMs: 600_000,
  });
  if (r.code === 0) return null;
  const failed = `${argv.join(" ")} exited with ${r.code ?? r.signal}`;
  const lines = r.stderr.trim().split("\n").slice(-3);
  if ((service.container?.secrets.length ?? 0) === 0) return `${failed}: ${lines.join(" | ")}`;
  try {
    if (secretValues === undefined) throw new Error("no secrets were given to hide");
    const redactor = createRedactor(await secretValues(service.name));
    return `${failed}: ${lines.map((line) => redactor.line(line)).join(" | ")}`;
  } catch (error) {
    return `${failed} (its output is not shown: it may hold the service's secrets, and holt could not read them to hide them: ${(error as Error).message})`;
  }
}

/** The entries to back up, and the service's root dataset, once the host's state root is known. */
function targets(service: ResolvedService, stateRoot: string | null) {
  if (stateRoot === null) return null;
  const kept = service.state.filter((e) => e.backup !== null);
  if (kept.length === 0) return null;
  return { root: `${stateRoot}/${service.name}`, kept };
}

/** Services backed up at once: each is a few zfs commands and a clone; the disks are shared. */
const CONCURRENCY = 4;

export async function runBackups(
  lab: ResolvedLab,
  options: BackupRunOptions,
): Promise<ServiceBackupResult[]> {
  const facts = await factsFor(lab, options.connections, options.facts);
  const names = Object.keys(lab.services)
    .sort()
    .filter((n) => options.services === undefined || options.services.includes(n));
  const results: (ServiceBackupResult | null)[] = new Array(names.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const at = next++;
      results[at] = await backupService(lab, names[at] ?? "", facts, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, names.length) }, worker));
  return results.filter((r) => r !== null);
}

/** One service: hooks around its snapshot, its manifests, its pruning; null when it has no state to back up. */
async function backupService(
  lab: ResolvedLab,
  name: string,
  facts: LabFacts,
  options: BackupRunOptions,
): Promise<ServiceBackupResult | null> {
  const now = options.now ?? (() => new Date());
  const service = lab.services[name];
  const host = service === undefined ? undefined : lab.hosts[service.host];
  if (service === undefined || host === undefined) return null;
  const t = targets(service, resolveStateRoot(host, facts[host.name]));
  if (t === null) return null;
  const exec = await options.connections.execFor(host.name);
  const snap = snapshotName(now());
  const result = {
    service: name,
    host: host.name,
    snapshot: null as string | null,
    pruned: [] as string[],
    error: null as string | null,
  };
  const fail = (message: string) => {
    result.error = result.error === null ? message : `${result.error}; ${message}`;
  };
  const halfRestored = (dataset: string) =>
    fail(
      `a restore of ${dataset} was cut short, so its contents are half replaced: no snapshot taken. Finish it with \`holt restore ${name}\` (the same command again).`,
    );
  try {
    // Before the hooks too: a service whose restore was cut short is stopped, and its hook's
    // failure would hide the reason.
    const cutShort = await restoreCutShort(exec, t.root);
    if (cutShort !== null) {
      halfRestored(cutShort);
      return result;
    }
    // Every snapshot under the root once this one is taken: what retention works from.
    let listed: DatasetSnapshot[] | undefined;
    const pre = await hook(exec, service, service.hooks.preSnapshot, options.secretValues);
    if (pre !== null) {
      fail(`preSnapshot hook failed, no snapshot taken: ${pre}`);
    } else {
      try {
        // Again right before the snapshot. The caller holds the lab's backup lock, which a
        // restore holds too, so no restore of this state folder's holt runs now; a mark seen
        // here was left by one cut short, or set by a holt elsewhere (another state folder).
        const marked = await restoreCutShort(exec, t.root);
        if (marked === null) {
          listed = (await takeSnapshot(exec, t.root, snap, lab.name)).all;
          result.snapshot = snap;
        } else {
          halfRestored(marked);
        }
      } finally {
        const post = await hook(exec, service, service.hooks.postSnapshot, options.secretValues);
        if (post !== null) fail(`postSnapshot hook failed: ${post}`);
      }
      if (result.snapshot === null) return result;
      if (options.manifests !== undefined) {
        const failed = await recordManifests(exec, lab, service, t, snap, now(), options.manifests);
        if (failed !== null) fail(failed);
      }
    }
    result.pruned.push(...(await prune(exec, lab, service, t.root, listed)));
  } catch (error) {
    fail((error as Error).message);
  }
  return result;
}

/** What `zfs get -r -H -o name,source holt:restoring ROOT` says about a restore's mark. */
export type RestoreMark =
  | { readonly kind: "none" }
  | { readonly kind: "marked"; readonly dataset: string }
  | { readonly kind: "unknown"; readonly why: string };

/**
 * Whether a dataset under the service's root carries a restore's mark (set
 * on it, not inherited). A failed look is not "no mark": a snapshot then
 * could hold half-restored data. Only a root that does not exist has none
 * (taking the snapshot then fails on its own, saying so).
 */
export function judgeRestoreMark(code: number | null, stdout: string, stderr: string): RestoreMark {
  if (code !== 0) {
    if (/does not exist/.test(stderr)) return { kind: "none" };
    return {
      kind: "unknown",
      why:
        stderr.trim().split("\n").slice(-2).join(" | ") ||
        (code === null ? "killed by a signal" : `exit ${code}`),
    };
  }
  for (const line of stdout.split("\n")) {
    const [name = "", source = ""] = line.split("\t");
    if (source === "local" && !name.includes("@")) return { kind: "marked", dataset: name };
  }
  return { kind: "none" };
}

/** A dataset under `root` that a restore cut short left marked, or null; throws when zfs cannot tell. */
async function restoreCutShort(exec: Exec, root: string): Promise<string | null> {
  const r = await exec.run({
    argv: ["zfs", "get", "-r", "-H", "-o", "name,source", RESTORING_PROPERTY, root],
  });
  const mark = judgeRestoreMark(r.code, r.stdout, r.stderr);
  if (mark.kind === "marked") return mark.dataset;
  if (mark.kind === "none") return null;
  throw new HoltError(
    "HOLT_E_ZFS",
    `Could not tell whether a restore of ${root} on ${exec.target} was cut short (zfs get ${RESTORING_PROPERTY}: ${mark.why}): no snapshot taken.`,
  );
}

/**
 * The checksum manifest of each backed-up entry at the new snapshot, read
 * from a read-only clone of it, and old manifests forgotten once no copy can
 * still hold their snapshot. A failure is reported; the snapshot stays.
 */
async function recordManifests(
  exec: Exec,
  lab: ResolvedLab,
  service: ResolvedService,
  t: { root: string; kept: ResolvedService["state"] },
  snap: string,
  now: Date,
  store: ManifestStore,
): Promise<string | null> {
  const failures: string[] = [];
  for (const entry of t.kept) {
    const dataset = `${t.root}/${entry.name}`;
    const subject = `${service.host}:${dataset}`;
    const clone = scratchFor(dataset, "manifest", lab.name, service.name, entry.name);
    try {
      await mountClone(exec, `${dataset}@${snap}`, clone);
      const manifest = await readManifest(exec, clone.path, store.load(subject));
      store.save(subject, snap, manifest);
      const policy = entry.backup === null ? undefined : lab.backups.policies[entry.backup];
      if (policy !== undefined) store.forget(subject, snapshotName(oldestKept(policy, now)));
    } catch (error) {
      failures.push(`no checksum manifest for ${dataset}@${snap}: ${(error as Error).message}`);
    } finally {
      await destroyScratch(exec, clone).catch(() => undefined);
    }
  }
  return failures.length === 0 ? null : failures.join("; ");
}

/**
 * The oldest time any copy of this policy may still hold a snapshot of (with
 * a month to spare), when every period has a snapshot. `last` counts
 * snapshots, not periods: taken as days, as for a daily schedule (as in
 * `staleAfterMs`); an hourly one then keeps manifests longer than needed,
 * never shorter.
 */
export function oldestKept(policy: ResolvedBackupPolicy, now: Date): Date {
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  const span = (k: ResolvedKeep) =>
    Math.max(
      k.last * DAY,
      k.hourly * HOUR,
      k.daily * DAY,
      k.weekly * 7 * DAY,
      k.monthly * 31 * DAY,
      k.yearly * 366 * DAY,
    );
  const longest = Math.max(
    span(policy.snapshots),
    policy.replica === null ? 0 : span(policy.replica.keep),
    policy.offsite === null ? 0 : span(policy.offsite.keep),
  );
  return new Date(now.getTime() - longest - 31 * DAY);
}

/**
 * Retention per dataset: each state entry by its policy; entries with
 * `backup: false` keep none of holt's; the service's root dataset keeps a
 * snapshot as long as any entry keeps the one of the same name. `listed`:
 * the snapshots under `root` as just read; read now when not given.
 */
async function prune(
  exec: Exec,
  lab: ResolvedLab,
  service: ResolvedService,
  root: string,
  listed?: readonly DatasetSnapshot[],
): Promise<string[]> {
  const all = listed ?? (await listSnapshots(exec, root, lab.name));
  const byDataset = new Map<string, DatasetSnapshot[]>();
  for (const s of all) byDataset.set(s.dataset, [...(byDataset.get(s.dataset) ?? []), s]);
  const keptNames = new Set<string>();
  const doomed: DatasetSnapshot[] = [];
  for (const entry of service.state) {
    const dataset = `${root}/${entry.name}`;
    const snaps = byDataset.get(dataset) ?? [];
    const policy = entry.backup === null ? undefined : lab.backups.policies[entry.backup];
    // Without a policy, even "newest" goes: the entry is not backed up.
    const drop = new Set(
      policy === undefined
        ? snaps.filter((s) => s.holt && !s.held).map((s) => s.name)
        : decideRetention(snaps, policy.snapshots).prune,
    );
    for (const s of snaps) {
      if (drop.has(s.name)) doomed.push(s);
      else if (s.holt) keptNames.add(s.name);
    }
  }
  for (const s of byDataset.get(root) ?? []) {
    if (s.holt && !s.held && !keptNames.has(s.name)) doomed.push(s);
  }
  const pruned: string[] = [];
  for (const s of doomed) {
    await destroySnapshot(exec, s);
    pruned.push(`${s.dataset}@${s.name}`);
  }
  return pruned;
}
