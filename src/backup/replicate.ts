/**
 * Replication of a state dataset to its policy's replica host: `zfs send` on
 * the source, `zfs receive -u` on the target, with holt relaying the bytes
 * between the two connections (so the hosts need no SSH access to each
 * other, and holt counts every byte for progress).
 *
 * Each run sends every holt snapshot newer than the newest one both sides
 * have (one `zfs send -i` each), matched by guid, not by name. The source snapshot the
 * replica now ends at gets a hold, so local pruning cannot break the chain.
 * The replica stays unmounted and read-only, and has its own retention.
 *
 * holt never destroys what it finds on the target: a replica with snapshots
 * the source does not have, with changes since its newest snapshot, or with
 * nothing in common with the source is "diverged", and the run stops for
 * that dataset and says what to do. `reseed` moves such a replica aside
 * (renamed, kept) and starts a full copy.
 *
 * Where the target pool can keep a cut-off receive (OpenZFS with the
 * extensible_dataset feature), holt receives with `-s`: a transfer cut short
 * leaves its partial state and a resume token on the replica, and the next
 * run first finishes it (`zfs send -t`) before sending anything newer. A token
 * the source can no longer serve (its snapshot was destroyed) is dropped with
 * `zfs receive -A`, which discards only the partial state, and the transfer
 * starts over. zfs-fuse has no resumable receive: there a transfer cut short
 * leaves no partial state, and the next run sends the same snapshots again.
 */
import type { ResolvedLab } from "../config/types.ts";
import { HoltError } from "../errors.ts";
import type { Connections } from "../hosts/connect.ts";
import type { Exec, ExecResult } from "../hosts/exec.ts";
import { runChecked } from "../hosts/run-checked.ts";
import type { LabFacts } from "../model/compile.ts";
import { decideRetention } from "../model/retention.ts";
import { factsFor, stateDatasets } from "./datasets.ts";
import { type Relayed, relay } from "./relay.ts";
import {
  type DatasetSnapshot,
  destroySnapshot,
  listSnapshots,
  type PropertyValue,
  readTree,
  SNAPSHOT_PROPERTIES,
  snapshotsOf,
  timeOfName,
} from "./zfs-snapshots.ts";

/** Marks a replica dataset: `<lab>:<host>:<source dataset>`. */
export const REPLICA_PROPERTY = "holt:replica-of";

export type ReplicationStatus = "sent" | "up to date" | "no snapshot" | "diverged" | "failed";

export interface ReplicationResult {
  readonly service: string;
  /** `host:dataset` of the source and of the replica. */
  readonly source: string;
  readonly target: string;
  readonly status: ReplicationStatus;
  /** The snapshot both sides had before (null for a full send), and the one sent up to. */
  readonly from: string | null;
  readonly to: string | null;
  readonly bytes: number;
  readonly seconds: number;
  /** Replica snapshots destroyed by the replica's retention. */
  readonly pruned: readonly string[];
  /**
   * What happened to a transfer an earlier run left cut off (resumable
   * targets only): "resumed" (finished from where it stopped), "restarted"
   * (the source could no longer serve it, so its partial state was discarded
   * and the transfer sent again), "discarded" (by `--reseed`, with the
   * diverged replica it was for), or null.
   */
  readonly cutOff: "resumed" | "restarted" | "discarded" | null;
  /** What went wrong and what to do, or null. */
  readonly error: string | null;
}

export interface TransferProgress {
  readonly source: string;
  readonly target: string;
  readonly bytes: number;
  readonly seconds: number;
}

export interface ReplicateOptions {
  readonly connections: Connections;
  readonly services?: readonly string[];
  /** Move a diverged replica aside (kept, renamed) and send a full copy. */
  readonly reseed?: boolean;
  /** Called about once a second while bytes flow, and once at the end of each transfer. */
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly now?: () => Date;
  /** The lab's host facts, when the caller already read them. */
  readonly facts?: LabFacts;
}

interface Pair {
  readonly service: string;
  readonly sourceHost: string;
  readonly sourceDataset: string;
  readonly targetHost: string;
  readonly targetDataset: string;
  /** `host:dataset` of each side, for results and messages. */
  readonly source: string;
  readonly target: string;
  readonly keep: NonNullable<ResolvedLab["backups"]["policies"][string]["replica"]>["keep"];
}

/** Every state dataset whose policy has a replica, with where its replica goes. */
export function replicationPairs(
  lab: ResolvedLab,
  facts: LabFacts,
  services?: readonly string[],
): Pair[] {
  return stateDatasets(lab, facts, services).flatMap((d) => {
    const replica = d.policy?.replica;
    if (replica == null) return [];
    const targetDataset = `${replica.dataset}/${d.service}/${d.entry}`;
    return [
      {
        service: d.service,
        sourceHost: d.host,
        sourceDataset: d.dataset,
        targetHost: replica.host,
        targetDataset,
        source: `${d.host}:${d.dataset}`,
        target: `${replica.host}:${targetDataset}`,
        keep: replica.keep,
      },
    ];
  });
}

/** The hosts these services' state is replicated to (known without any host's facts). */
function replicaHosts(lab: ResolvedLab, services?: readonly string[]): Set<string> {
  const hosts = new Set<string>();
  for (const [name, service] of Object.entries(lab.services)) {
    if (services !== undefined && !services.includes(name)) continue;
    for (const entry of service.state) {
      const replica = entry.backup === null ? null : lab.backups.policies[entry.backup]?.replica;
      if (replica != null) hosts.add(replica.host);
    }
  }
  return hosts;
}

/**
 * Starts logging in to each replica host of these services (all, when none
 * are named) for the streams to come (`Exec.prepareStart`), so the handshake
 * overlaps whatever the caller does first. `replicate()` calls it too; a
 * caller with work before it (reading facts, taking snapshots) calls it sooner.
 */
export function prepareReplication(
  lab: ResolvedLab,
  connections: Connections,
  services?: readonly string[],
): void {
  for (const host of replicaHosts(lab, services)) {
    void connections.execFor(host).then(
      (exec) => exec.prepareStart?.(),
      () => undefined,
    );
  }
}

export async function replicate(
  lab: ResolvedLab,
  options: ReplicateOptions,
): Promise<ReplicationResult[]> {
  prepareReplication(lab, options.connections, options.services);
  const facts = await factsFor(lab, options.connections, options.facts);
  const pairs = replicationPairs(lab, facts, options.services);
  const results: ReplicationResult[] = [];
  // One transfer at a time: they share the disks and the link, and the order is predictable.
  for (const pair of pairs) results.push(await replicateOne(lab.name, pair, options));
  return results;
}

class Diverged extends Error {}

async function replicateOne(
  lab: string,
  pair: Pair,
  options: ReplicateOptions,
): Promise<ReplicationResult> {
  const { source, target } = pair;
  const base = {
    service: pair.service,
    source,
    target,
    from: null as string | null,
    to: null as string | null,
    bytes: 0,
    seconds: 0,
    pruned: [] as string[],
    cutOff: null as ReplicationResult["cutOff"],
  };
  try {
    const [src, dst] = await Promise.all([
      options.connections.execFor(pair.sourceHost),
      options.connections.execFor(pair.targetHost),
    ]);
    // Both sides at once: one command each (the first time, the replica host is also asked
    // whether it can resume).
    const canResumeHere = canResume(dst, pair.targetDataset);
    const readBoth = () =>
      Promise.all([
        listSnapshots(src, pair.sourceDataset, lab),
        canResumeHere.then((resumable) => readReplica(dst, pair, lab, resumable)),
      ]);
    let [listed, replica] = await readBoth();
    const resumable = await canResumeHere;
    if (replica?.resumeToken != null) {
      const before = replica.snapshots.at(-1)?.name ?? null;
      const settled = await settleCutOff(
        { src, dst, pair, lab, resumable, onProgress: options.onProgress },
        listed.filter((s) => s.dataset === pair.sourceDataset),
        replica,
        replica.resumeToken,
        options.reseed === true,
      );
      if (settled !== null) {
        base.cutOff = settled.outcome;
        base.bytes = settled.bytes;
        base.seconds = settled.seconds;
        if (settled.outcome === "resumed") base.from = before;
        [listed, replica] = await readBoth();
      }
    }
    const sourceSnaps = listed.filter((s) => s.dataset === pair.sourceDataset);
    const newest = sourceSnaps.filter((s) => s.holt).at(-1);
    if (newest === undefined) {
      return {
        ...base,
        status: "no snapshot",
        error: `${source} has no snapshot of holt's yet: run \`holt backup run ${pair.service}\` first.`,
      };
    }
    let targetSnaps = replica?.snapshots ?? null;
    if (
      targetSnaps !== null &&
      targetSnaps.length === 0 &&
      (await interruptedFirstCopy(dst, pair))
    ) {
      // A first copy cut off on a system that keeps the half-received dataset (zfs-fuse does
      // when its receive is killed): it holds nothing but part of what the source has.
      await runChecked(dst, { argv: ["zfs", "destroy", pair.targetDataset] });
      targetSnaps = null;
    }
    if (targetSnaps !== null && options.reseed === true) {
      try {
        commonSnapshot(sourceSnaps, targetSnaps, pair);
      } catch (error) {
        if (!(error instanceof Diverged)) throw error;
        await moveAside(dst, pair, options.now?.() ?? new Date());
        targetSnaps = null;
      }
    }
    let from = targetSnaps === null ? null : commonSnapshot(sourceSnaps, targetSnaps, pair);
    const onProgress: ReplicateOptions["onProgress"] = (p) =>
      options.onProgress?.({
        ...p,
        bytes: base.bytes + p.bytes,
        seconds: base.seconds + p.seconds,
      });
    const chain = { src, dst, pair, lab, sourceSnaps, resumable, onProgress };
    let sent: Sent;
    try {
      sent = await sendChain(chain, from, newest);
    } catch (error) {
      // Written to since its newest snapshot: only the receive finds that out.
      if (!(error instanceof Diverged) || options.reseed !== true || from === null) throw error;
      await moveAside(dst, pair, options.now?.() ?? new Date());
      from = null;
      sent = await sendChain(chain, null, newest);
    }
    // What the replica holds now: read before, plus what was received (no need to ask again).
    const received = sent.steps.map((s) => ({ ...s, dataset: pair.targetDataset, held: false }));
    const nowOnReplica = from === null ? received : [...(targetSnaps ?? []), ...received];
    // The replica's marks and retention, and the source's hold, at once: different hosts.
    const [pruned] = await Promise.all([
      markReplica(dst, pair, lab, from === null ? null : (replica?.properties ?? null)).then(() =>
        pruneReplica(dst, pair, nowOnReplica),
      ),
      from?.name === newest.name
        ? holdBase(
            src,
            pair,
            lab,
            newest,
            sourceSnaps.filter((x) => x.held),
          )
        : Promise.resolve(),
    ]);
    const wasResumed = base.cutOff === "resumed";
    return {
      ...base,
      status: from?.name === newest.name && !wasResumed ? "up to date" : "sent",
      // After a resume, where the replica was before it.
      from: wasResumed ? base.from : (from?.name ?? null),
      to: newest.name,
      bytes: base.bytes + sent.bytes,
      seconds: base.seconds + sent.seconds,
      pruned,
      error: null,
    };
  } catch (error) {
    const status: ReplicationStatus = error instanceof Diverged ? "diverged" : "failed";
    return { ...base, status, error: (error as Error).message };
  }
}

/** The two ends of one replica, and how to receive there. */
interface Ends {
  readonly src: Exec;
  readonly dst: Exec;
  readonly pair: Pair;
  readonly lab: string;
  /** The replica's pool keeps a cut-off receive (`receive -s`). */
  readonly resumable: boolean;
  readonly onProgress: ReplicateOptions["onProgress"];
}

interface Chain extends Ends {
  readonly sourceSnaps: readonly DatasetSnapshot[];
}

interface Sent {
  readonly bytes: number;
  readonly seconds: number;
  /** The source snapshots the replica received, oldest first. */
  readonly steps: readonly DatasetSnapshot[];
}

/**
 * Sends every step from `from` to `newest`. Each step's end is held on the
 * source once it arrived, then the hold on the step before is released: the
 * replica's end is held at every moment (a crash in between leaves two holds,
 * released by the next run).
 */
async function sendChain(
  c: Chain,
  from: DatasetSnapshot | null,
  newest: DatasetSnapshot,
): Promise<Sent> {
  let bytes = 0;
  let seconds = 0;
  const arrived: DatasetSnapshot[] = [];
  const tag = holdTag(c.lab, c.pair.targetHost);
  // The source's own copy of the common snapshot: that is where its hold is.
  let previous = from === null ? null : (c.sourceSnaps.find((s) => s.guid === from.guid) ?? null);
  const steps = stepsAfter(c.sourceSnaps, from, newest);
  // The replica's end unheld (a resume just brought it there, or a run died before its hold):
  // held before anything else, so pruning cannot take it while the next step travels.
  if (previous !== null && !previous.held && steps.length > 0) await hold(c.src, tag, previous);
  for (const next of steps) {
    if (previous === null) await startFirstCopy(c.dst, c.pair);
    const step = await transfer(c, previous, next, (p) =>
      c.onProgress?.({ ...p, bytes: bytes + p.bytes, seconds: seconds + p.seconds }),
    );
    // Held once the step arrived, not while it travels: simpler, and zfs-fuse (both pools in
    // one daemon in the tests) hung in a run that took holds during sends (cause not shown).
    await hold(c.src, tag, next);
    bytes += step.bytes;
    seconds += step.seconds;
    arrived.push(next);
    if (previous === null) await finishFirstCopy(c.dst, c.pair);
    const held = c.sourceSnaps.filter((x) => x.held || x.name === previous?.name);
    await release(c.src, tag, next, held);
    previous = next;
  }
  return { bytes, seconds, steps: arrived };
}

/** The replica's marks, read with its snapshots. */
const MARKS = ["readonly", "canmount", REPLICA_PROPERTY] as const;

interface ReplicaState {
  readonly snapshots: DatasetSnapshot[];
  /** The replica dataset's own properties (its marks among them). */
  readonly properties: ReadonlyMap<string, PropertyValue>;
  /** The token of a receive cut off on a resumable target, or null. */
  readonly resumeToken: string | null;
}

/** The property holding a cut-off resumable receive's token ("-" when there is none). */
const RESUME_TOKEN = "receive_resume_token";

/**
 * The replica's snapshots and marks in one command, or null when there is no
 * replica yet. A dataset there that holt did not make and that shares no
 * snapshot with the source is not a replica: it is refused, never written into.
 */
async function readReplica(
  dst: Exec,
  pair: Pair,
  lab: string,
  resumable: boolean,
): Promise<ReplicaState | null> {
  const tree = await readTree(dst, pair.targetDataset, [
    ...SNAPSHOT_PROPERTIES,
    ...MARKS,
    ...(resumable ? [RESUME_TOKEN] : []),
  ]);
  if (tree === null) return null;
  const properties = tree.get(pair.targetDataset) ?? new Map<string, PropertyValue>();
  const token = properties.get(RESUME_TOKEN)?.value ?? "-";
  return {
    snapshots: snapshotsOf(tree, lab, dst.target).filter((s) => s.dataset === pair.targetDataset),
    properties,
    resumeToken: token === "-" || token === "" ? null : token,
  };
}

/** Per host, per pool: whether it keeps cut-off receives (asked once per holt process). */
const resumableByHost = new WeakMap<Exec, Map<string, Promise<boolean>>>();

/**
 * Whether the pool that holds `dataset` on this host can resume a receive.
 * OpenZFS refuses `receive -s` on a pool without the extensible_dataset
 * feature, and its tools before 0.7 have no `receive -s` (nor the
 * receive_resume_token property); zfs-fuse has neither (both commands fail).
 */
function canResume(dst: Exec, dataset: string): Promise<boolean> {
  const pool = dataset.split("/")[0] ?? dataset;
  const pools = resumableByHost.get(dst) ?? new Map<string, Promise<boolean>>();
  resumableByHost.set(dst, pools);
  let answer = pools.get(pool);
  if (answer === undefined) {
    const asked = Promise.all([
      dst.run({ argv: ["zpool", "get", "-H", "-o", "value", "feature@extensible_dataset", pool] }),
      dst.run({ argv: ["zfs", "get", "-H", "-o", "value", RESUME_TOKEN, pool] }),
    ]).then(
      ([feature, property]) =>
        feature.code === 0 &&
        /^(enabled|active)$/.test(feature.stdout.trim()) &&
        property.code === 0,
    );
    // A host that could not be asked (connection lost) is asked again next time.
    asked.catch(() => pools.delete(pool));
    pools.set(pool, asked);
    answer = asked;
  }
  return answer;
}

/**
 * Settles the transfer an earlier run left cut off on the replica (its
 * partial state and resume token), before anything else is sent. Only a
 * replica that is holt's and in line with the source is resumed (`zfs send
 * -t`); null leaves a diverged one as it is, for the caller to report. The
 * partial state is discarded (`zfs receive -A`; the replica's snapshots stay)
 * when the source can no longer serve the token (the snapshot it was sending
 * is gone: "restarted"), or when `--reseed` is about to move the diverged
 * replica aside ("discarded"). Any other failure keeps it for the next run.
 */
async function settleCutOff(
  ends: Ends,
  sourceSnaps: readonly DatasetSnapshot[],
  replica: ReplicaState,
  token: string,
  reseed: boolean,
): Promise<{
  outcome: NonNullable<ReplicationResult["cutOff"]>;
  bytes: number;
  seconds: number;
} | null> {
  const { dst, pair } = ends;
  const firstCopy = replica.snapshots.length === 0;
  if (firstCopy ? !(await interruptedFirstCopy(dst, pair)) : !inLine(sourceSnaps, replica, pair)) {
    if (!reseed) return null;
    if (firstCopy) {
      // Not holt's first copy: a file system someone else was receiving. Never destroyed.
      throw new Diverged(
        `Replica ${pair.target} is not holt's: it holds a partly received transfer and no snapshot. Look at it; \`zfs receive -A ${pair.targetDataset}\` on ${pair.targetHost} discards it, then run again.`,
      );
    }
    await abortReceive(dst, pair);
    return { outcome: "discarded", bytes: 0, seconds: 0 };
  }
  const r = await relayStep(ends, ["zfs", "send", "-t", token]);
  if (r.received.code === 0 && r.sent.code === 0) {
    if (firstCopy) await finishFirstCopy(dst, pair);
    return { outcome: "resumed", bytes: r.bytes, seconds: r.seconds };
  }
  if (/cannot resume send/.test(r.sent.stderr)) {
    await abortReceive(dst, pair);
    return { outcome: "restarted", bytes: 0, seconds: 0 };
  }
  const why = stepFailure(pair, r, true).message;
  throw new HoltError(
    "HOLT_E_BACKUP",
    `Finishing the transfer an earlier run left cut off failed. ${why} If it keeps failing, \`zfs receive -A ${pair.targetDataset}\` on ${pair.targetHost} discards what that transfer left, and the next run sends again.`,
  );
}

/** Whether the replica's newest snapshot is one the source has. */
function inLine(
  sourceSnaps: readonly DatasetSnapshot[],
  replica: ReplicaState,
  pair: Pair,
): boolean {
  try {
    commonSnapshot(sourceSnaps, replica.snapshots, pair);
    return true;
  } catch (error) {
    if (error instanceof Diverged) return false;
    throw error;
  }
}

async function abortReceive(dst: Exec, pair: Pair): Promise<void> {
  await runChecked(dst, { argv: ["zfs", "receive", "-A", pair.targetDataset] });
}

/** `sendArgv` on the source into this replica's receive, with progress. */
function relayStep(ends: Ends, sendArgv: readonly string[]): Promise<Relayed> {
  const { source, target } = ends.pair;
  return relay(
    ends.src,
    sendArgv,
    ends.dst,
    receiveArgv(ends.pair, ends.resumable),
    (bytes, seconds) => ends.onProgress?.({ source, target, bytes, seconds }),
  );
}

/** Why a relayed step failed. A receiver that gave up made holt kill the sender: its reason is the one. */
function stepFailure(pair: Pair, r: Relayed, resumable: boolean): Error {
  const sent = r.abandoned && r.received.code !== 0 ? null : r.sent;
  return transferError(pair, sent, r.received, resumable);
}

function receiveArgv(pair: Pair, resumable: boolean): string[] {
  return ["zfs", "receive", "-u", ...(resumable ? ["-s"] : []), pair.targetDataset];
}

/**
 * The newest replica snapshot the source also has (same guid). Throws
 * Diverged when the replica has snapshots after it, or none in common.
 */
function commonSnapshot(
  source: readonly DatasetSnapshot[],
  replica: readonly DatasetSnapshot[],
  pair: Pair,
): DatasetSnapshot {
  const sourceGuids = new Set(source.map((s) => s.guid));
  const target = pair.target;
  const fix = `Look at both sides (zfs list -t snapshot -r ${pair.targetDataset} on ${pair.targetHost}), then run \`holt backup replicate ${pair.service} --reseed\`: it renames the replica aside (kept, nothing is destroyed) and sends a full copy.`;
  let common = -1;
  for (let i = replica.length - 1; i >= 0; i--) {
    if (sourceGuids.has(replica[i]?.guid ?? "")) {
      common = i;
      break;
    }
  }
  if (common < 0) {
    const what =
      replica.length === 0 ? "has no snapshot" : `has no snapshot in common with ${pair.source}`;
    throw new Diverged(`Replica ${target} ${what}. ${fix}`);
  }
  const after = replica.slice(common + 1).map((s) => s.name);
  if (after.length > 0) {
    const shown = after.slice(0, 5).join(", ") + (after.length > 5 ? ", …" : "");
    throw new Diverged(
      `Replica ${target} diverged: it has snapshots the source does not (${shown}), after ${replica[common]?.name}. They were made on the replica, or the source was rolled back past them. ${fix}`,
    );
  }
  return replica[common] as DatasetSnapshot;
}

/**
 * The transfers that bring a replica from `from` to `newest`: the newest
 * snapshot in full for a first copy, else one `zfs send -i` per holt
 * snapshot after `from`. Not one `zfs send -I`: zfs-fuse leaves a hold on
 * every snapshot of an `-I` range when that send dies early (a receiver that
 * refused), and those holds can never be released, so pruning would keep the
 * snapshots for ever.
 */
export function stepsAfter(
  source: readonly DatasetSnapshot[],
  from: DatasetSnapshot | null,
  newest: DatasetSnapshot,
): DatasetSnapshot[] {
  if (from === null) return [newest];
  if (from.name === newest.name) return [];
  const at = source.findIndex((s) => s.guid === from.guid);
  const end = source.findIndex((s) => s.name === newest.name);
  return source.slice(at + 1, end + 1).filter((s) => s.holt);
}

/** On the replica's parent while a first copy is received: `<entry>`. */
const RECEIVING_PROPERTY = "holt:receiving";

function parentOf(dataset: string): string {
  return dataset.slice(0, dataset.lastIndexOf("/"));
}

function entryOf(dataset: string): string {
  return dataset.slice(dataset.lastIndexOf("/") + 1);
}

/**
 * Creates the replica's parent when missing (unmountable, so nothing received
 * is ever mounted), and records on it that a first copy is being received,
 * so a copy cut off half-way is known to be holt's on the next run.
 */
async function startFirstCopy(dst: Exec, pair: Pair): Promise<void> {
  const parent = parentOf(pair.targetDataset);
  const exists = await dst.run({ argv: ["zfs", "list", "-H", "-o", "name", parent] });
  if (exists.code !== 0) {
    await runChecked(dst, {
      argv: ["zfs", "create", "-p", "-o", "canmount=off", "-o", "mountpoint=none", parent],
    });
  }
  await runChecked(dst, {
    argv: ["zfs", "set", `${RECEIVING_PROPERTY}=${entryOf(pair.targetDataset)}`, parent],
  });
}

async function finishFirstCopy(dst: Exec, pair: Pair): Promise<void> {
  await runChecked(dst, {
    argv: ["zfs", "inherit", RECEIVING_PROPERTY, parentOf(pair.targetDataset)],
  });
}

/** Whether the replica's parent says a first copy of this entry was being received. */
async function interruptedFirstCopy(dst: Exec, pair: Pair): Promise<boolean> {
  const r = await dst.run({
    argv: [
      "zfs",
      "get",
      "-H",
      "-o",
      "value,source",
      RECEIVING_PROPERTY,
      parentOf(pair.targetDataset),
    ],
  });
  const [value, source] = r.stdout.trim().split("\t");
  return r.code === 0 && source === "local" && value === entryOf(pair.targetDataset);
}

/** Streams the snapshots after `from` (all of them for a full send) up to `to`. */
async function transfer(
  c: Chain,
  from: DatasetSnapshot | null,
  to: DatasetSnapshot,
  onProgress: ReplicateOptions["onProgress"],
): Promise<{ bytes: number; seconds: number }> {
  const snapshot = `${c.pair.sourceDataset}@${to.name}`;
  const sendArgv =
    from === null ? ["zfs", "send", snapshot] : ["zfs", "send", "-i", `@${from.name}`, snapshot];
  const r = await relayStep({ ...c, onProgress }, sendArgv);
  if (r.received.code === 0 && r.sent.code === 0) return r;
  throw stepFailure(c.pair, r, c.resumable);
}

function transferError(
  pair: Pair,
  sent: ExecResult | null,
  received: ExecResult,
  resumable: boolean,
): Error {
  const { source, target } = pair;
  const why = received.stderr.trim().replace(/\s+/g, " ");
  // With `receive -s`, ZFS keeps what arrived of a transfer cut off mid-stream, beside the
  // replica's snapshots; a stream it refused at the start leaves nothing.
  const after = resumable
    ? "The replica's snapshots are as before; if ZFS kept what arrived, the next run resumes from there, else it sends again."
    : "ZFS discarded the partial transfer, so the replica is as before; the next run sends again.";
  if (/has been modified\s+since most recent snapshot/.test(received.stderr)) {
    return new Diverged(
      `Replica ${target} diverged: it was written to since its newest snapshot, so the next snapshots cannot be applied on top. Nothing was changed. Run \`holt backup replicate ${pair.service} --reseed\` to rename it aside (kept) and send a full copy.`,
    );
  }
  if (/out of space|quota exceeded/i.test(received.stderr)) {
    return new HoltError(
      "HOLT_E_BACKUP",
      `Replica ${target}: the target pool is full (${why}). ${resumable ? `The replica's snapshots are as before; ZFS keeps what arrived for the next run to resume (\`zfs receive -A ${pair.targetDataset}\` on ${pair.targetHost} frees it).` : "The partial transfer was discarded and the replica is as before."} Free space on ${pair.targetHost}, then run again.`,
    );
  }
  if (sent !== null && sent.code !== 0) {
    return new HoltError(
      "HOLT_E_BACKUP",
      `Sending ${source} to ${target} failed (${sent.stderr.trim().replace(/\s+/g, " ") || `exit ${sent.code ?? sent.signal}`}). ${after}`,
    );
  }
  const stream =
    /invalid stream|checksum mismatch|incomplete stream|premature|unexpected end/i.test(
      received.stderr,
    )
      ? "the stream arrived damaged or cut short"
      : "receiving failed";
  return new HoltError(
    "HOLT_E_BACKUP",
    `Replicating ${source} to ${target}: ${stream} (${why || `exit ${received.code ?? received.signal}`}). ${after}`,
  );
}

/**
 * The replica is read-only, not mounted at boot, and marked with where it
 * comes from. `known`: its properties as read before an incremental receive
 * (which changes none of them); null to read them now.
 */
async function markReplica(
  dst: Exec,
  pair: Pair,
  lab: string,
  known: ReadonlyMap<string, PropertyValue> | null,
): Promise<void> {
  const mark = `${lab}:${pair.sourceHost}:${pair.sourceDataset}`;
  const values =
    known ?? (await readTree(dst, pair.targetDataset, MARKS))?.get(pair.targetDataset) ?? new Map();
  for (const [property, value] of [
    ["readonly", "on"],
    // Never mounted by `zfs mount -a` at boot either; mount it by hand to look inside.
    ["canmount", "noauto"],
  ] as const) {
    if (values.get(property)?.value !== value) {
      await runChecked(dst, { argv: ["zfs", "set", `${property}=${value}`, pair.targetDataset] });
    }
  }
  if (values.get(REPLICA_PROPERTY)?.value !== mark) {
    await runChecked(dst, {
      argv: ["zfs", "set", `${REPLICA_PROPERTY}=${mark}`, pair.targetDataset],
    });
  }
}

/** The hold tag on the source snapshot a replica ends at. */
export function holdTag(lab: string, targetHost: string): string {
  return `holt-replica-${lab}-${targetHost}`;
}

/**
 * Holds the snapshot the replica now ends at, then releases the tag from
 * `release` (zfs-fuse cannot list holds, so each candidate is asked). Hold
 * first: a crash in between leaves two holds, never none.
 */
async function holdBase(
  src: Exec,
  pair: Pair,
  lab: string,
  newest: DatasetSnapshot,
  others: readonly DatasetSnapshot[],
): Promise<void> {
  const tag = holdTag(lab, pair.targetHost);
  await hold(src, tag, newest);
  await release(src, tag, newest, others);
}

async function hold(src: Exec, tag: string, snapshot: DatasetSnapshot): Promise<void> {
  const name = `${snapshot.dataset}@${snapshot.name}`;
  const held = await src.run({ argv: ["zfs", "hold", tag, name] });
  if (held.code !== 0 && !/tag already exists/.test(held.stderr)) {
    throw zfsFailed(src, held, `Could not hold ${name}`);
  }
}

/** Releases `tag` from each of `others` but `kept`. */
async function release(
  src: Exec,
  tag: string,
  kept: DatasetSnapshot,
  others: readonly DatasetSnapshot[],
): Promise<void> {
  for (const s of others) {
    if (s.name === kept.name) continue;
    // "no such tag": someone else's hold; it stays.
    await src.run({ argv: ["zfs", "release", tag, `${s.dataset}@${s.name}`] });
  }
}

/**
 * The replica's own retention over `snaps` (what it holds now); never its
 * newest snapshot (the next base), never others' snapshots.
 */
async function pruneReplica(
  dst: Exec,
  pair: Pair,
  snaps: readonly DatasetSnapshot[],
): Promise<string[]> {
  // Received snapshots carry no local mark: on a replica, holt's are those with holt's names.
  const ours = snaps.map((s) => {
    const at = timeOfName(s.name);
    return { ...s, holt: at !== null, createdMs: at ?? s.createdMs };
  });
  const decision = decideRetention(ours, pair.keep);
  const pruned: string[] = [];
  for (const name of decision.prune) {
    const s = ours.find((o) => o.name === name);
    if (s === undefined) continue;
    await destroySnapshot(dst, s);
    pruned.push(`${s.dataset}@${s.name}`);
  }
  return pruned;
}

/** Renames a diverged replica to `<name>-diverged-<time>`, unmounted, so a full copy can start. */
async function moveAside(dst: Exec, pair: Pair, now: Date): Promise<void> {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  await dst.run({ argv: ["zfs", "unmount", pair.targetDataset] });
  await runChecked(dst, {
    argv: ["zfs", "rename", pair.targetDataset, `${pair.targetDataset}-diverged-${stamp}`],
  });
}

function zfsFailed(exec: Exec, result: ExecResult, what: string): HoltError {
  return new HoltError("HOLT_E_ZFS", `${what} on ${exec.target}: ${result.stderr.trim()}`);
}
