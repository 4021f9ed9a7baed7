/**
 * `holt restore`: a service's state put back to a snapshot, from the local
 * pool, the replica, or the offsite repository. A snapshot name means the
 * same point in time in every copy.
 *
 * The order keeps the service's data safe at every step, and a rerun of the
 * same command finishes a restore that was cut short:
 *   1. Each dataset's copy is put into a scratch dataset (a clone, a
 *      `zfs send | zfs receive` from the replica, or `restic restore`) and
 *      verified against the checksum manifest recorded when the snapshot was
 *      taken, and the service's `hooks.verify`, while the service still runs.
 *   2. The service is stopped; each live dataset gets a safety snapshot
 *      (`@restore-safety-<time>`, never pruned) and a mark naming it.
 *   3. The live dataset's contents are replaced with the scratch copy's, then
 *      checked against the same checksums; the mark is removed.
 *   4. The service is started and must pass its health check.
 * The live dataset itself stays (same name, properties, snapshots), so
 * replication continues from the newest snapshot both sides have: the
 * replica never sees a rollback.
 *
 * A rerun after a crash finds the mark: it keeps the first safety snapshot
 * (the real pre-restore state), not one of half-restored data.
 */
import type { ResolvedLab, ResolvedRepository } from "../config/types.ts";
import { HoltError } from "../errors.ts";
import type { Connections } from "../hosts/connect.ts";
import type { Exec } from "../hosts/exec.ts";
import { runChecked } from "../hosts/run-checked.ts";
import type { LabFacts } from "../model/compile.ts";
import { factsFor, type StateDataset, stateDatasets } from "./datasets.ts";
import {
  type Manifest,
  type ManifestStore,
  manifestDifferences,
  manifestSize,
  readManifest,
} from "./manifest.ts";
import { offsitePath, parseSnapshots, probe, refOf, resticOn } from "./offsite.ts";
import { relay } from "./relay.ts";
import { replicationPairs } from "./replicate.ts";
import { openRepository, type RepositoryStore } from "./repository.ts";
import {
  createReceiveScratch,
  createScratch,
  destroyScratch,
  mountClone,
  type Scratch,
  scratchFor,
} from "./scratch.ts";
import { listSnapshots, timeOfName } from "./zfs-snapshots.ts";

export type RestoreSource = "local" | "replica" | "offsite";
export const RESTORE_SOURCES: readonly RestoreSource[] = ["local", "replica", "offsite"];

/** On a live dataset while its contents are being replaced: the safety snapshot's name. */
export const RESTORING_PROPERTY = "holt:restoring";
const SAFETY_PREFIX = "restore-safety-";

export interface RestoreRequest {
  readonly service: string;
  /** State entries (default: every entry with a copy in the source). */
  readonly entries?: readonly string[];
  /** A snapshot by name, or the newest at or before a time. */
  readonly snapshot?: string;
  readonly at?: Date;
  /** Default: the first of local, replica, offsite that has the snapshot. */
  readonly from?: RestoreSource;
}

export interface RestoreStep {
  readonly service: string;
  readonly entry: string;
  readonly host: string;
  readonly dataset: string;
  /** The container path it is mounted at. */
  readonly path: string;
  readonly snapshot: string;
  readonly from: RestoreSource;
  /** `host:dataset` of the replica, or the repository's name. */
  readonly where: string;
  /** The restic snapshot id (offsite only). */
  readonly resticId: string | null;
  /** Files and bytes in the recorded manifest, or null when none was recorded. */
  readonly manifest: { readonly files: number; readonly bytes: number } | null;
  /** A restore of this dataset was cut short: its safety snapshot (kept from then). */
  readonly resuming: string | null;
}

export interface RestorePlan {
  readonly service: string;
  readonly host: string;
  readonly steps: readonly RestoreStep[];
  /** The safety snapshot name this restore takes (resumed steps keep theirs). */
  readonly safety: string;
  /**
   * An earlier restore of these datasets was cut short and another point in
   * time is asked now: that restore's safety snapshot (still there).
   */
  readonly cutShort: string | null;
}

export interface RestoreOptions {
  readonly connections: Connections;
  readonly manifests: ManifestStore;
  /** What holt recorded about each offsite repository: a local one is read only where recorded. */
  readonly repositories: RepositoryStore;
  readonly secretValue: (name: string) => string;
  readonly facts?: LabFacts;
  readonly now?: () => Date;
}

export interface RestoreHooks {
  /** Stops the service's container (nothing when it has none). */
  stopService(service: string): Promise<void>;
  /** Starts it and waits for its health check; throws when it fails. */
  startService(service: string): Promise<void>;
  /** One line per step, for the terminal. */
  onStep?(line: string): void;
  /** Called after each named stage, so tests can stop the process there. */
  onStage?(stage: string): void;
}

export interface RestoreResult {
  readonly service: string;
  readonly datasets: readonly {
    readonly dataset: string;
    readonly snapshot: string;
    readonly from: RestoreSource;
    readonly safety: string;
    readonly files: number;
    readonly bytes: number;
    /** How the data was checked: "manifest" (recorded checksums) or "copy" (equal to the source copy). */
    readonly verified: "manifest" | "copy";
  }[];
  readonly seconds: number;
}

function stamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

interface Candidate {
  readonly name: string;
  readonly atMs: number;
  readonly resticId: string | null;
}

/** The copies a dataset has in one source, oldest first. */
async function candidates(
  lab: ResolvedLab,
  d: StateDataset,
  from: RestoreSource,
  options: RestoreOptions,
  facts: LabFacts,
): Promise<{ where: string; list: Candidate[] } | null> {
  if (from === "local") {
    const exec = await options.connections.execFor(d.host);
    const snaps = (await listSnapshots(exec, d.dataset, lab.name)).filter(
      (s) => s.dataset === d.dataset,
    );
    return {
      where: `${d.host}:${d.dataset}`,
      list: snaps.map((s) => ({ name: s.name, atMs: s.createdMs, resticId: null })),
    };
  }
  if (from === "replica") {
    const pair = replicationPairs(lab, facts, [d.service]).find(
      (p) => p.sourceDataset === d.dataset,
    );
    if (pair === undefined) return null;
    const dst = await options.connections.execFor(pair.targetHost);
    const snaps = (await listSnapshots(dst, pair.targetDataset, lab.name)).filter(
      (s) => s.dataset === pair.targetDataset,
    );
    return {
      where: `${pair.targetHost}:${pair.targetDataset}`,
      list: snaps.map((s) => ({
        name: s.name,
        atMs: timeOfName(s.name) ?? s.createdMs,
        resticId: null,
      })),
    };
  }
  const repository = repositoryFor(lab, d.service, d.entry);
  if (repository === null) return null;
  const exec = await options.connections.execFor(d.host);
  const restic = resticOn(exec, repository, options.secretValue);
  // Never from what happens to be at a local path whose disk is not mounted.
  const refused = await openRepository(exec, refOf(repository, d.host), probe(restic), {
    store: options.repositories,
    record: false,
    now: options.now ?? (() => new Date()),
  });
  if (refused !== null) throw new HoltError("HOLT_E_REPOSITORY", refused);
  const path = offsitePath(lab.name, d.service, d.entry);
  const r = await restic([
    "snapshots",
    "--json",
    "--host",
    lab.name,
    "--tag",
    `holt:${lab.name}`,
    "--path",
    path,
  ]);
  if (r.code !== 0) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      /wrong password or no key found/.test(r.stderr)
        ? `Repository "${repository.name}": the password (secret "${repository.password}") does not open it. Set the right one with \`holt secrets set ${repository.password}\`.`
        : `Repository "${repository.name}": listing its snapshots failed (${r.stderr.trim().split("\n").slice(-2).join(" | ")}).`,
    );
  }
  const list = parseSnapshots(r.stdout).flatMap((s) => {
    const tag = s.tags.find((t) => t.startsWith("snapshot:"));
    if (tag === undefined) return [];
    const name = tag.slice("snapshot:".length);
    return [{ name, atMs: timeOfName(name) ?? Date.parse(s.time), resticId: s.id }];
  });
  list.sort((a, b) => a.atMs - b.atMs);
  return { where: repository.name, list };
}

/** The offsite repository of a service's state entry, by its policy; null when it has none. */
function repositoryFor(
  lab: ResolvedLab,
  service: string,
  entry: string,
): ResolvedRepository | null {
  const backup = lab.services[service]?.state.find((e) => e.name === entry)?.backup;
  const name = backup == null ? undefined : lab.backups.policies[backup]?.offsite?.repository;
  return name === undefined ? null : (lab.backups.repositories[name] ?? null);
}

/**
 * Which snapshot of which copy each dataset is restored from. Every dataset
 * of the service gets the same snapshot name, so the service comes back as
 * one consistent point in time.
 */
export async function planRestore(
  lab: ResolvedLab,
  asked: RestoreRequest,
  options: RestoreOptions,
): Promise<RestorePlan> {
  let request = asked;
  const service = lab.services[request.service];
  if (service === undefined) {
    throw new HoltError("HOLT_E_USAGE", `"${request.service}" is not a service of this lab.`);
  }
  const facts = await factsFor(lab, options.connections, options.facts);
  const all = stateDatasets(lab, facts, [service.name]);
  for (const e of request.entries ?? []) {
    if (!all.some((d) => d.entry === e)) {
      throw new HoltError(
        "HOLT_E_USAGE",
        `Service "${service.name}" has no state entry "${e}". Its entries: ${all.map((d) => d.entry).join(", ") || "(none)"}.`,
      );
    }
  }
  const chosen = all.filter((d) =>
    request.entries === undefined ? d.policy !== null : request.entries.includes(d.entry),
  );
  if (chosen.length === 0) {
    throw new HoltError(
      "HOLT_E_USAGE",
      `Service "${service.name}" has no state that is backed up, so there is nothing to restore.`,
    );
  }
  const markExec = await options.connections.execFor(chosen[0]?.host ?? service.host);
  const marks = new Map<string, RestoringMark>();
  for (const d of chosen) {
    const mark = await restoringMark(markExec, d.dataset);
    if (mark !== null) marks.set(d.dataset, mark);
  }
  // A restore cut short is finished as it was asked, unless another point in time is asked now.
  const [cutShort] = marks.values();
  const explicit = request.snapshot !== undefined || request.at !== undefined;
  if (cutShort !== undefined && !explicit) {
    request = { ...request, snapshot: cutShort.snapshot, from: request.from ?? cutShort.from };
  }
  const sources = request.from === undefined ? RESTORE_SOURCES : [request.from];
  const tried: string[] = [];
  for (const from of sources) {
    const found = await Promise.all(
      chosen.map(async (d) => ({ d, c: await candidates(lab, d, from, options, facts) })),
    );
    const missing = found.filter((f) => f.c === null);
    if (missing.length > 0) {
      tried.push(
        `${from}: the policy of ${missing.map((f) => f.d.entry).join(", ")} has no ${from === "replica" ? "replica" : "offsite repository"}`,
      );
      continue;
    }
    const name = pickSnapshot(
      found.map((f) => f.c?.list ?? []),
      request,
    );
    if (name === null) {
      tried.push(
        `${from}: no snapshot ${request.snapshot !== undefined ? `named ${request.snapshot}` : `at or before ${request.at?.toISOString() ?? "now"}`} in every dataset (${found.map((f) => f.c?.where).join(", ")})`,
      );
      continue;
    }
    const host = chosen[0]?.host ?? service.host;
    // The same point from the same copy as the restore cut short: finish that one.
    const resume = cutShort !== undefined && cutShort.snapshot === name && cutShort.from === from;
    const steps: RestoreStep[] = [];
    for (const f of found) {
      const c = f.c?.list.find((x) => x.name === name);
      const entry = service.state.find((e) => e.name === f.d.entry);
      const recorded = options.manifests.load(`${f.d.host}:${f.d.dataset}`, name);
      steps.push({
        service: service.name,
        entry: f.d.entry,
        host: f.d.host,
        dataset: f.d.dataset,
        path: entry?.path ?? "",
        snapshot: name,
        from,
        where: f.c?.where ?? "",
        resticId: c?.resticId ?? null,
        manifest: recorded === null ? null : manifestSize(recorded),
        resuming: resume ? (marks.get(f.d.dataset)?.safety ?? null) : null,
      });
    }
    return {
      service: service.name,
      host,
      steps,
      safety: `${SAFETY_PREFIX}${stamp((options.now ?? (() => new Date()))())}`,
      cutShort: cutShort === undefined || resume ? null : cutShort.safety,
    };
  }
  throw new HoltError(
    "HOLT_E_BACKUP",
    `No copy to restore ${service.name} from. ${tried.join("; ")}. \`holt backup status\` shows the copies.`,
  );
}

/** The snapshot name every dataset has: the one asked for, or the newest at or before the time. */
function pickSnapshot(
  lists: readonly (readonly Candidate[])[],
  request: RestoreRequest,
): string | null {
  const [first, ...rest] = lists;
  if (first === undefined) return null;
  const everywhere = first.filter((c) => rest.every((l) => l.some((x) => x.name === c.name)));
  if (request.snapshot !== undefined) {
    return everywhere.some((c) => c.name === request.snapshot) ? request.snapshot : null;
  }
  const limit = request.at?.getTime() ?? Number.POSITIVE_INFINITY;
  // By time, holt's own snapshots only: a safety snapshot (or another tool's) is restored by name.
  const fitting = everywhere.filter((c) => c.atMs <= limit && timeOfName(c.name) !== null);
  fitting.sort((a, b) => a.atMs - b.atMs);
  return fitting.at(-1)?.name ?? null;
}

/** What a restore cut short left on a dataset: its safety snapshot, and what it restored. */
export interface RestoringMark {
  readonly safety: string;
  readonly snapshot: string;
  readonly from: RestoreSource;
}

/** The mark on a dataset, or null. Its value is `<safety>|<snapshot>|<source>` (`|` is in no ZFS name). */
export async function restoringMark(exec: Exec, dataset: string): Promise<RestoringMark | null> {
  const r = await exec.run({
    argv: ["zfs", "get", "-H", "-o", "value,source", RESTORING_PROPERTY, dataset],
  });
  const [value = "", source = ""] = r.stdout.trim().split("\t");
  if (r.code !== 0 || source !== "local") return null;
  const [safety = "", snapshot = "", from = ""] = value.split("|");
  if (!safety.startsWith(SAFETY_PREFIX) || !(RESTORE_SOURCES as readonly string[]).includes(from)) {
    return null;
  }
  return { safety, snapshot, from: from as RestoreSource };
}

/** Carries out a plan; see the file's comment for the order. */
export async function executeRestore(
  lab: ResolvedLab,
  plan: RestorePlan,
  options: RestoreOptions,
  hooks: RestoreHooks,
): Promise<RestoreResult> {
  const started = Date.now();
  const say = (line: string) => hooks.onStep?.(line);
  const stage = (name: string) => hooks.onStage?.(name);
  const exec = await options.connections.execFor(plan.host);
  const staged: Staged[] = [];
  try {
    // 1. Every dataset's copy into scratch, verified, while the service runs.
    for (const step of plan.steps) {
      say(`${step.dataset}: restoring ${step.snapshot} from ${step.from} (${step.where})`);
      const copy = await stageCopy(lab, step, exec, "restore", options, staged, say);
      stage(`fetched:${step.entry}`);
      if (copy.diff.length > 0) {
        throw new HoltError(
          "HOLT_E_BACKUP",
          `The ${step.from} copy of ${step.dataset}@${step.snapshot} does not match the checksums recorded when the snapshot was taken; nothing live was changed. ${copy.diff.join("; ")}`,
        );
      }
      say(
        copy.recorded
          ? `  verified against the recorded manifest: ${describe(copy.copy)}`
          : `  no manifest was recorded for ${step.snapshot} here (a new machine, or a snapshot from before manifests); ${step.from === "offsite" ? "restic verified what it restored" : "ZFS checksummed the stream"}: ${describe(copy.copy)}`,
      );
    }
    const hook = await runServiceVerify(lab, plan.service, exec, staged);
    if (hook !== null) say(`  hooks.verify passed: ${hook}`);
    stage("verified");
    await checkRoom(exec, staged);
    // 2. Stop, safety snapshot, mark.
    await hooks.stopService(plan.service);
    say(`${plan.service} stopped`);
    stage("stopped");
    const safeties = new Map<string, string>();
    try {
      for (const { step } of staged) {
        const safety = step.resuming ?? plan.safety;
        if (step.resuming === null) {
          // Never an existing snapshot: it would not hold what is there now.
          const r = await exec.run({
            argv: [
              "zfs",
              "snapshot",
              "-o",
              `holt:restore-safety=${lab.name}`,
              `${step.dataset}@${safety}`,
            ],
          });
          if (r.code !== 0) {
            throw new HoltError(
              "HOLT_E_ZFS",
              `Could not take the safety snapshot ${step.dataset}@${safety} on ${exec.target}: ${r.stderr.trim()}. Nothing was replaced.`,
            );
          }
          await runChecked(exec, {
            argv: [
              "zfs",
              "set",
              `${RESTORING_PROPERTY}=${safety}|${step.snapshot}|${step.from}`,
              step.dataset,
            ],
          });
        }
        safeties.set(step.dataset, safety);
        say(`${step.dataset}: safety snapshot @${safety}`);
      }
      stage("safety");
      // 3. Replace the contents and check them.
      for (const { step, path, copy } of staged) {
        const live = await liveMountpoint(exec, step.dataset);
        await runChecked(exec, {
          argv: [
            "sh",
            "-c",
            'find "$1" -xdev -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} + && cp -a -- "$2/." "$1/"',
            "holt-restore",
            live,
            path,
          ],
          timeoutMs: 0,
        });
        stage(`copied:${step.entry}`);
        const now = await readManifest(exec, live);
        const diff = manifestDifferences(copy, now);
        if (diff.length > 0) {
          throw new HoltError(
            "HOLT_E_BACKUP",
            `After copying into ${step.dataset}, its contents differ from the verified copy: ${diff.join("; ")}.`,
          );
        }
        say(`${step.dataset}: contents replaced and checked (${describe(now)})`);
      }
      stage("swapped");
      // 4. Start and health-gate; the marks go only when all of it is done.
      await hooks.startService(plan.service);
      stage("started");
      for (const { step } of staged) {
        await runChecked(exec, { argv: ["zfs", "inherit", RESTORING_PROPERTY, step.dataset] });
      }
    } catch (error) {
      throw stoppedError(error, plan, safeties);
    }
    for (const { scratch } of staged) await destroyScratch(exec, scratch).catch(() => undefined);
    return {
      service: plan.service,
      datasets: staged.map(({ step, copy }) => ({
        dataset: step.dataset,
        snapshot: step.snapshot,
        from: step.from,
        safety: safeties.get(step.dataset) ?? plan.safety,
        ...manifestSize(copy),
        verified: step.manifest === null ? ("copy" as const) : ("manifest" as const),
      })),
      seconds: (Date.now() - started) / 1000,
    };
  } catch (error) {
    // Scratch copies hold nothing of the user's: removed, the live data is untouched or marked.
    for (const { scratch } of staged) await destroyScratch(exec, scratch).catch(() => undefined);
    throw error;
  }
}

/**
 * The reason a restore stopped after the service was stopped, with where it
 * stands: the service is down, the state before is the safety snapshot, the
 * same command finishes it and a restore of the safety snapshot undoes it.
 */
function stoppedError(error: unknown, plan: RestorePlan, safeties: Map<string, string>): Error {
  const message = error instanceof Error ? error.message : String(error);
  const safety = [...new Set(safeties.values())];
  const where =
    safety.length === 0
      ? "Nothing was replaced yet."
      : `What was there before is kept as @${safety.join(", @")} on each dataset. Run the same command again to finish the restore, or \`holt restore ${plan.service} --snapshot ${safety[0]} --from local\` to put the state before back.`;
  return new HoltError(
    error instanceof HoltError ? error.code : "HOLT_E_BACKUP",
    `${message.replace(/\.?$/, ".")} The restore of ${plan.service} stopped with the service stopped. ${where}`,
    error instanceof HoltError ? { details: error.details } : {},
  );
}

/**
 * Room for the copy: the old contents stay in the safety snapshot, so each
 * dataset must have the copy's size available (its quota and the pool).
 */
async function checkRoom(
  exec: Exec,
  staged: readonly { step: RestoreStep; copy: Manifest }[],
): Promise<void> {
  for (const { step, copy } of staged) {
    const r = await runChecked(exec, {
      argv: ["zfs", "get", "-H", "-p", "-o", "value", "available", step.dataset],
    });
    const available = Number(r.stdout.trim());
    const needed = Math.ceil(manifestSize(copy).bytes * 1.05);
    if (Number.isFinite(available) && available < needed) {
      throw new HoltError(
        "HOLT_E_BACKUP",
        `${step.dataset} has ${available} bytes available (its quota and its pool), and the restored copy needs about ${needed}, while the current contents stay in the safety snapshot. Raise its quota (\`quota\` in the config, then holt apply) or free space in the pool, then run the same command again. Nothing was changed; the service still runs.`,
      );
    }
  }
}

function describe(m: Manifest): string {
  const { files, bytes } = manifestSize(m);
  return `${files} ${files === 1 ? "file" : "files"}, ${bytes} bytes`;
}

/** The live dataset's mountpoint; it must be mounted, or the copy would land beneath it. */
async function liveMountpoint(exec: Exec, dataset: string): Promise<string> {
  const r = await runChecked(exec, {
    argv: ["zfs", "get", "-H", "-o", "property,value", "mounted,mountpoint", dataset],
  });
  const values = new Map(r.stdout.split("\n").map((l) => l.split("\t") as [string, string]));
  const mounted = values.get("mounted");
  const mountpoint = values.get("mountpoint") ?? "";
  if (mounted !== "yes" || !mountpoint.startsWith("/")) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      `${dataset} on ${exec.target} is not mounted (mountpoint ${mountpoint}), so its contents cannot be replaced. Mount it (\`zfs mount ${dataset}\`), then run the same command again.`,
    );
  }
  return mountpoint;
}

/** A step's copy in a scratch dataset, and how it compares with the manifest recorded for it. */
interface Staged {
  readonly step: RestoreStep;
  readonly scratch: Scratch;
  readonly path: string;
  /** What the copy holds, every file read. */
  readonly copy: Manifest;
  /** Whether a manifest was recorded for the snapshot here. */
  readonly recorded: boolean;
  /** How the copy differs from it (empty when equal or when none was recorded). */
  readonly diff: readonly string[];
}

/**
 * Fetches a step's copy into the scratch dataset of this purpose, reads it
 * and compares it with its recorded manifest. Adds it to `staged` before
 * fetching, so the caller removes the scratch dataset whatever happens.
 */
async function stageCopy(
  lab: ResolvedLab,
  step: RestoreStep,
  exec: Exec,
  purpose: "restore" | "verify",
  options: RestoreOptions,
  staged: Staged[],
  say: (line: string) => void,
): Promise<Staged> {
  const scratch = scratchFor(step.dataset, purpose, lab.name, step.service, step.entry);
  const path = scratch.path;
  const at = staged.length;
  staged.push({ step, scratch, path, copy: new Map(), recorded: false, diff: [] });
  await fetchCopy(lab, step, exec, scratch, options, say);
  const copy = await readManifest(exec, path);
  const recorded = options.manifests.load(`${step.host}:${step.dataset}`, step.snapshot);
  const done: Staged = {
    step,
    scratch,
    path,
    copy,
    recorded: recorded !== null,
    diff: recorded === null ? [] : manifestDifferences(recorded, copy),
  };
  staged[at] = done;
  return done;
}

/** The service's `hooks.verify` on its staged copies, when it has one and an image; what ran, or null. */
async function runServiceVerify(
  lab: ResolvedLab,
  name: string,
  exec: Exec,
  staged: readonly Staged[],
): Promise<string | null> {
  const service = lab.services[name];
  if (service === undefined || service.hooks.verify === null || service.container === null) {
    return null;
  }
  await runVerifyHook(exec, service.container.image, service.hooks.verify, staged);
  return service.hooks.verify.join(" ");
}

/** Puts the step's copy into the scratch dataset, mounted at its path. */
async function fetchCopy(
  lab: ResolvedLab,
  step: RestoreStep,
  exec: Exec,
  scratch: Scratch,
  options: RestoreOptions,
  say: (line: string) => void,
): Promise<void> {
  const path = scratch.path;
  if (step.from === "local") {
    await mountClone(exec, `${step.dataset}@${step.snapshot}`, scratch, true);
    return;
  }
  if (step.from === "replica") {
    const [replicaHost = "", replicaDataset = ""] = step.where.split(/:(.*)/s);
    const dst = await options.connections.execFor(replicaHost);
    const into = await createReceiveScratch(exec, scratch);
    const r = await relay(dst, ["zfs", "send", `${replicaDataset}@${step.snapshot}`], exec, [
      "zfs",
      "receive",
      "-u",
      into,
    ]);
    if (r.sent.code !== 0 || r.received.code !== 0) {
      // A receiver that gave up made holt end the sender: then the receiver's reason is the one.
      const failed = r.sent.code !== 0 && !r.abandoned ? r.sent : r.received;
      const why =
        failed.stderr.trim().replace(/\s+/g, " ") || `exit ${failed.code ?? failed.signal}`;
      throw new HoltError(
        "HOLT_E_BACKUP",
        `Copying ${step.where}@${step.snapshot} back to ${exec.target} failed (${why}); nothing live was changed. Run the same command again.`,
      );
    }
    say(`  received ${r.bytes} bytes in ${r.seconds.toFixed(1)} s`);
    await runChecked(exec, { argv: ["mkdir", "-p", path] });
    await runChecked(exec, { argv: ["zfs", "set", `mountpoint=${path}`, into] });
    // Setting the mountpoint mounts it on some systems (zfs-fuse), not on others.
    const mounted = await exec.run({ argv: ["zfs", "mount", into] });
    if (mounted.code !== 0 && !/already mounted/.test(mounted.stderr)) {
      await runChecked(exec, { argv: ["zfs", "mount", into] });
    }
    return;
  }
  const repository = repositoryFor(lab, step.service, step.entry);
  if (repository === null || step.resticId === null) {
    throw new HoltError("HOLT_E_INTERNAL", `No repository for ${step.dataset}.`);
  }
  await createScratch(exec, scratch);
  const restic = resticOn(exec, repository, options.secretValue);
  const source = offsitePath(lab.name, step.service, step.entry);
  // restic restores the full path it backed up; `ID:subfolder` needs restic ≥ 0.15. So into a
  // folder beside, then the contents moved up (renames within the scratch dataset).
  const staging = `${path}/.holt-restic`;
  const r = await restic(["restore", step.resticId, "--target", staging, "--verify"]);
  if (r.code !== 0) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      `Repository "${repository.name}": restoring ${step.snapshot} (${step.resticId}) failed (${r.stderr.trim().split("\n").slice(-3).join(" | ")}); nothing live was changed.`,
    );
  }
  await runChecked(exec, {
    argv: [
      "sh",
      "-c",
      'find "$1$2" -mindepth 1 -maxdepth 1 -exec mv -t "$3" -- {} + && rm -rf -- "$1"',
      "holt-restore",
      staging,
      source,
      path,
    ],
    timeoutMs: 0,
  });
}

/**
 * The service's `hooks.verify` in a throwaway container of its image, with
 * the restored copies mounted where the service sees its state, no network.
 */
async function runVerifyHook(
  exec: Exec,
  image: string,
  argv: readonly string[],
  staged: readonly { step: RestoreStep; path: string }[],
): Promise<void> {
  const [program = "", ...args] = argv;
  const volumes = staged.flatMap(({ step, path }) => ["-v", `${path}:${step.path}:ro`]);
  const r = await exec.run({
    argv: [
      "podman",
      "run",
      "--rm",
      "--network",
      "none",
      ...volumes,
      "--entrypoint",
      program,
      image,
      ...args,
    ],
    timeoutMs: 600_000,
  });
  if (r.code !== 0) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      `The service's hooks.verify (${argv.join(" ")}) failed on the restored copy (exit ${r.code ?? r.signal}: ${(r.stderr.trim() || r.stdout.trim()).split("\n").slice(-3).join(" | ")}); nothing live was changed.`,
    );
  }
}

export interface DrillResult {
  readonly service: string;
  /** `host:dataset`. */
  readonly subject: string;
  readonly snapshot: string | null;
  readonly from: RestoreSource | null;
  readonly where: string | null;
  readonly ok: boolean;
  /** "manifest" when compared to the recorded checksums; "none" when none was recorded. */
  readonly compared: "manifest" | "none";
  readonly files: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly error: string | null;
}

/**
 * `holt backup verify`: a restore drill. For each service, the newest
 * snapshot in the copy furthest away (offsite, else replica, else local,
 * unless `from` says) is restored into scratch datasets, compared with the
 * checksum manifest recorded when it was taken, and given to the service's
 * `hooks.verify`. Nothing live is touched; the scratch copies are removed.
 */
export async function drill(
  lab: ResolvedLab,
  request: { readonly services?: readonly string[]; readonly from?: RestoreSource },
  options: RestoreOptions,
): Promise<DrillResult[]> {
  const facts = await factsFor(lab, options.connections, options.facts);
  const results: DrillResult[] = [];
  const names = [...new Set(stateDatasets(lab, facts, request.services).map((d) => d.service))];
  for (const name of names) {
    const datasets = stateDatasets(lab, facts, [name]).filter((d) => d.policy !== null);
    if (datasets.length === 0) continue;
    const from =
      request.from ??
      (datasets.every((d) => d.policy?.offsite != null)
        ? "offsite"
        : datasets.every((d) => d.policy?.replica != null)
          ? "replica"
          : "local");
    const started = Date.now();
    const failAll = (error: string, plan?: RestorePlan): void => {
      for (const d of datasets) {
        results.push({
          service: name,
          subject: `${d.host}:${d.dataset}`,
          snapshot: plan?.steps[0]?.snapshot ?? null,
          from,
          where: plan?.steps.find((s) => s.dataset === d.dataset)?.where ?? null,
          ok: false,
          compared: "none",
          files: 0,
          bytes: 0,
          seconds: (Date.now() - started) / 1000,
          error,
        });
      }
    };
    let plan: RestorePlan;
    try {
      plan = await planRestore(lab, { service: name, from }, options);
    } catch (error) {
      failAll((error as Error).message);
      continue;
    }
    const exec = await options.connections.execFor(plan.host);
    const staged: Staged[] = [];
    const done: DrillResult[] = [];
    try {
      for (const step of plan.steps) {
        const copy = await stageCopy(lab, step, exec, "verify", options, staged, () => undefined);
        done.push({
          service: name,
          subject: `${step.host}:${step.dataset}`,
          snapshot: step.snapshot,
          from: step.from,
          where: step.where,
          ok: copy.diff.length === 0,
          compared: copy.recorded ? "manifest" : "none",
          ...manifestSize(copy.copy),
          seconds: (Date.now() - started) / 1000,
          error:
            copy.diff.length === 0
              ? null
              : `The ${step.from} copy of ${step.dataset}@${step.snapshot} differs from the checksums recorded when it was taken: ${copy.diff.join("; ")}`,
        });
      }
      if (done.every((d) => d.ok)) {
        try {
          await runServiceVerify(lab, name, exec, staged);
        } catch (error) {
          for (let i = 0; i < done.length; i++) {
            done[i] = { ...(done[i] as DrillResult), ok: false, error: (error as Error).message };
          }
        }
      }
      results.push(...done);
    } catch (error) {
      failAll((error as Error).message, plan);
    } finally {
      for (const { scratch } of staged) await destroyScratch(exec, scratch).catch(() => undefined);
    }
  }
  return results;
}
