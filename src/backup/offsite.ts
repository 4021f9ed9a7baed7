/**
 * Offsite copies with restic: each state dataset whose policy names an
 * offsite repository is copied from its newest holt snapshot, on the host
 * that holds it, and copies the policy no longer keeps are forgotten; then
 * part of each repository is read back to check it, and when the check
 * passes, the forgotten copies' space is freed (`restic prune`).
 *
 * restic needs the snapshot at a path: zfs-fuse has no `.zfs/snapshot`, so
 * holt mounts a read-only clone of it at a path that is the same for every
 * run (`/var/lib/holt/offsite/<lab>/<service>/<entry>`), which lets restic
 * find its parent snapshot and skip unchanged files. Each restic snapshot is
 * tagged with the ZFS snapshot's name and carries its time, so a name means
 * the same point in time in every copy.
 *
 * Credentials (the password, the backend's keys) reach restic through its
 * environment, written to a small shell's standard input: never on a command
 * line, where `ps` and holt's own error messages would show them.
 *
 * A repository is created only by `holt backup init-offsite` (`initOffsite`);
 * before each use, `openRepository` checks that it is there and, for a local
 * path, on the file system recorded for it (see repository.ts).
 */
import type { ResolvedKeep, ResolvedLab, ResolvedRepository } from "../config/types.ts";
import { HoltError } from "../errors.ts";
import type { Connections } from "../hosts/connect.ts";
import type { Exec, ExecResult } from "../hosts/exec.ts";
import type { LabFacts } from "../model/compile.ts";
import { resticKeepFlags } from "../model/retention.ts";
import { createRedactor } from "../util/redact.ts";
import { factsFor, type StateDataset, stateDatasets } from "./datasets.ts";
import {
  decideInit,
  describeFileSystem,
  isLocalRepository,
  locationKey,
  openRepository,
  type Probe,
  probeOf,
  type RepositoryRef,
  type RepositoryStore,
  readPlace,
  showLocation,
} from "./repository.ts";
import { destroyScratch, mountClone, scratchFor, scratchPath } from "./scratch.ts";
import { listSnapshots, timeOfName } from "./zfs-snapshots.ts";

export type OffsiteStatus = "copied" | "up to date" | "no snapshot" | "failed";

export interface OffsiteResult {
  readonly service: string;
  /** `host:dataset` of the source. */
  readonly source: string;
  readonly repository: string;
  readonly status: OffsiteStatus;
  /** The ZFS snapshot the newest offsite copy is of. */
  readonly snapshot: string | null;
  /** restic's id of that copy. */
  readonly resticSnapshot: string | null;
  /** Bytes restic added to the repository (after deduplication and compression). */
  readonly bytesAdded: number;
  readonly seconds: number;
  /** restic snapshots removed by the policy. */
  readonly forgotten: number;
  readonly error: string | null;
}

export interface CheckResult {
  readonly host: string;
  readonly repository: string;
  /** `k/n`: the part of the data read back this time. */
  readonly subset: string;
  readonly ok: boolean;
  readonly error: string | null;
}

export interface OffsiteOptions {
  readonly connections: Connections;
  /** The lab's secret values (the repository password and backend keys). */
  readonly secretValue: (name: string) => string;
  readonly services?: readonly string[];
  readonly now?: () => Date;
  /** The lab's host facts, when the caller already read them. */
  readonly facts?: LabFacts;
  /** What holt recorded about each repository (the backup catalog). */
  readonly repositories: RepositoryStore;
}

/** restic's exit code for "snapshot created, but some files could not be read". */
const INCOMPLETE_SNAPSHOT = 3;
/** Data subsets a check rotates through, one per hour of the day: all of it every day. */
const CHECK_SUBSETS = 24;

interface Copy extends StateDataset {
  readonly repository: ResolvedRepository;
  readonly keep: ResolvedKeep;
}

/** The path restic reads from, the same for every run: `/var/lib/holt/offsite/<lab>/<service>/<entry>`. */
export function offsitePath(lab: string, service: string, entry: string): string {
  return scratchPath("offsite", lab, service, entry);
}

async function copies(lab: ResolvedLab, options: OffsiteOptions): Promise<Copy[]> {
  const facts = await factsFor(lab, options.connections, options.facts);
  return stateDatasets(lab, facts, options.services).flatMap((d) => {
    const offsite = d.policy?.offsite;
    const repository = offsite == null ? undefined : lab.backups.repositories[offsite.repository];
    if (offsite == null || repository === undefined) return [];
    return [{ ...d, repository, keep: offsite.keep }];
  });
}

/** Copies and forgets by policy, then per repository and host: a check, and a prune when it passed. */
export async function copyOffsite(
  lab: ResolvedLab,
  options: OffsiteOptions,
): Promise<{ copies: OffsiteResult[]; checks: CheckResult[] }> {
  const now = options.now ?? (() => new Date());
  const results: OffsiteResult[] = [];
  const checked = new Map<string, { exec: Exec; repository: ResolvedRepository; host: string }>();
  // Each repository is looked at once per host, before anything is copied to it.
  const opened = new Map<string, string | null>();
  for (const copy of await copies(lab, options)) {
    const exec = await options.connections.execFor(copy.host);
    const restic = resticOn(exec, copy.repository, options.secretValue);
    const key = `${copy.host}\n${copy.repository.name}`;
    let refused = opened.get(key);
    if (refused === undefined) {
      refused = await openRepository(exec, refOf(copy.repository, copy.host), probe(restic), {
        store: options.repositories,
        record: true,
        now,
      }).catch((error: Error) => error.message);
      opened.set(key, refused);
    }
    if (refused !== null) {
      results.push({
        service: copy.service,
        source: `${copy.host}:${copy.dataset}`,
        repository: copy.repository.name,
        status: "failed",
        snapshot: null,
        resticSnapshot: null,
        bytesAdded: 0,
        seconds: 0,
        forgotten: 0,
        error: `${refused} Nothing was copied.`,
      });
      continue;
    }
    results.push(await copyOne(lab.name, copy, restic, exec));
    checked.set(`${copy.host}\n${copy.repository.name}`, {
      exec,
      repository: copy.repository,
      host: copy.host,
    });
  }
  const checks: CheckResult[] = [];
  const hour = now().getUTCHours();
  for (const { exec, repository, host } of checked.values()) {
    const subset = `${(hour % CHECK_SUBSETS) + 1}/${CHECK_SUBSETS}`;
    const restic = resticOn(exec, repository, options.secretValue);
    // The structure first: reading data from a repository with a missing pack makes
    // restic 0.14 retry that pack for many minutes; the plain check finds it at once.
    const structure = await restic(["check"]);
    const r =
      structure.code === 0 ? await restic(["check", `--read-data-subset=${subset}`]) : structure;
    let pruneError: string | null = null;
    if (r.code === 0) {
      const pruned = await restic(["prune"]);
      if (pruned.code !== 0) {
        pruneError = resticError(repository, pruned, `pruning failed (${lastLines(pruned)})`);
      }
    }
    checks.push({
      host,
      repository: repository.name,
      subset,
      ok: r.code === 0 && pruneError === null,
      error:
        r.code === 0
          ? pruneError
          : resticError(
              repository,
              r,
              `the check found damage (${lastLines(r)}). The copies in it may not restore. Look with \`restic check --read-data\`; \`restic repair\` (restic ≥ 0.16) or a new repository fixes it, and the next run copies the newest snapshots again`,
            ),
    });
  }
  return { copies: results, checks };
}

type Restic = (args: readonly string[]) => Promise<ExecResult>;

/**
 * restic with the repository's environment, in UTC. The variables go to a
 * shell on its standard input, one `NAME=value` per line, and the shell
 * execs restic: the same locally and over SSH, where holt's own environment
 * does not reach and the host's zone would apply.
 */
export function resticOn(
  exec: Exec,
  repository: ResolvedRepository,
  secretValue: (name: string) => string,
): Restic {
  const password = secretValue(repository.password);
  const secrets = [password];
  const env: [string, string][] = [
    ["RESTIC_REPOSITORY", repository.restic],
    ["RESTIC_PASSWORD", password],
  ];
  for (const [key, value] of Object.entries(repository.env)) {
    if ("value" in value) env.push([key, value.value]);
    else {
      const secret = secretValue(value.secret);
      secrets.push(secret);
      env.push([key, secret]);
    }
  }
  // restic reads `--time` in its zone and stores each copy's time with that zone's offset, and
  // `forget` groups copies by that wall-clock time: in UTC, both are holt's. Last, so it holds.
  env.push(["TZ", "UTC"]);
  for (const [key, value] of env) {
    if (value.includes("\n")) {
      throw new HoltError(
        "HOLT_E_BACKUP",
        `Repository "${repository.name}": ${key} holds a line break, which restic's environment cannot carry. Set it to a value on one line.`,
      );
    }
  }
  const stdin = `${env.map(([k, v]) => `${k}=${v}`).join("\n")}\n\n`;
  const script = 'while IFS= read -r kv && [ -n "$kv" ]; do export "$kv"; done; exec restic "$@"';
  // What restic or its backend says goes into messages and the catalog: without the secrets
  // it was given (a backend may quote a credential back).
  const redactor = createRedactor(secrets);
  return async (args) => {
    const r = await exec.run({
      argv: ["sh", "-c", script, "holt-restic", ...args],
      stdin,
      timeoutMs: 0,
    });
    return { ...r, stderr: redactor.text(r.stderr) };
  };
}

async function copyOne(
  lab: string,
  copy: Copy,
  restic: Restic,
  exec: Exec,
): Promise<OffsiteResult> {
  const base = {
    service: copy.service,
    source: `${copy.host}:${copy.dataset}`,
    repository: copy.repository.name,
    snapshot: null as string | null,
    resticSnapshot: null as string | null,
    bytesAdded: 0,
    seconds: 0,
    forgotten: 0,
  };
  const path = offsitePath(lab, copy.service, copy.entry);
  try {
    const newest = (await listSnapshots(exec, copy.dataset, lab))
      .filter((s) => s.dataset === copy.dataset && s.holt)
      .at(-1);
    if (newest === undefined) {
      return {
        ...base,
        status: "no snapshot",
        error: `${base.source} has no snapshot of holt's yet: run \`holt backup run ${copy.service}\` first.`,
      };
    }
    const existing = await copiesInRepository(lab, copy, restic, path);
    const done = existing.find((s) => s.tags.includes(`snapshot:${newest.name}`));
    let status: OffsiteStatus = "up to date";
    let resticSnapshot = done?.id ?? null;
    const started = Date.now();
    let bytesAdded = 0;
    if (done === undefined) {
      const made = await backupSnapshot(lab, copy, restic, exec, newest.name, path);
      status = "copied";
      resticSnapshot = made.id;
      bytesAdded = made.bytesAdded;
    }
    const forgotten = await forget(lab, copy, restic, path);
    return {
      ...base,
      status,
      snapshot: newest.name,
      resticSnapshot,
      bytesAdded,
      seconds: (Date.now() - started) / 1000,
      forgotten,
      error: null,
    };
  } catch (error) {
    return { ...base, status: "failed", error: (error as Error).message };
  }
}

interface ResticSnapshot {
  readonly id: string;
  readonly time: string;
  readonly tags: readonly string[];
}

/** holt's copies of this dataset in the repository (which `openRepository` found). */
async function copiesInRepository(
  lab: string,
  copy: Copy,
  restic: Restic,
  path: string,
): Promise<ResticSnapshot[]> {
  const args = ["snapshots", "--json", "--host", lab, "--tag", `holt:${lab}`, "--path", path];
  const r = await restic(args);
  if (r.code !== 0) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      resticError(copy.repository, r, `listing its snapshots failed (${lastLines(r)})`),
    );
  }
  return parseSnapshots(r.stdout);
}

export function parseSnapshots(stdout: string): ResticSnapshot[] {
  const parsed = JSON.parse(stdout.trim() === "" ? "[]" : stdout) as unknown;
  if (!Array.isArray(parsed)) return [];
  return parsed.map((s: { short_id?: string; id?: string; time?: string; tags?: string[] }) => ({
    id: s.short_id ?? s.id ?? "",
    time: s.time ?? "",
    tags: s.tags ?? [],
  }));
}

/** restic's `--time` format, in UTC (restic reads it in its zone, which `resticOn` sets to UTC). */
function resticTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "");
}

async function backupSnapshot(
  lab: string,
  copy: Copy,
  restic: Restic,
  exec: Exec,
  snapshot: string,
  path: string,
): Promise<{ id: string; bytesAdded: number }> {
  const clone = scratchFor(copy.dataset, "offsite", lab, copy.service, copy.entry);
  await mountClone(exec, `${copy.dataset}@${snapshot}`, clone);
  try {
    const at = timeOfName(snapshot) ?? Date.now();
    const r = await restic([
      "backup",
      "--json",
      "--quiet",
      "--host",
      lab,
      "--time",
      resticTime(at),
      "--tag",
      `holt:${lab}`,
      "--tag",
      `service:${copy.service}`,
      "--tag",
      `snapshot:${snapshot}`,
      path,
    ]);
    if (r.code === INCOMPLETE_SNAPSHOT) {
      throw new HoltError(
        "HOLT_E_BACKUP",
        resticError(
          copy.repository,
          r,
          `the copy of ${copy.dataset}@${snapshot} is incomplete: restic could not read some files (${lastLines(r)}). It does not count as a copy; fix the files' permissions and run again`,
        ),
      );
    }
    if (r.code !== 0) {
      throw new HoltError(
        "HOLT_E_BACKUP",
        resticError(copy.repository, r, `the backup failed (${lastLines(r)})`),
      );
    }
    const summary = r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("{"))
      .map(
        (l) =>
          JSON.parse(l) as { message_type?: string; snapshot_id?: string; data_added?: number },
      )
      .find((m) => m.message_type === "summary");
    return { id: summary?.snapshot_id ?? "", bytesAdded: summary?.data_added ?? 0 };
  } finally {
    await destroyScratch(exec, clone);
  }
}

/**
 * `restic forget` by the policy's keep, for this dataset's copies only. The
 * space is freed by `restic prune` after the repository's check passed: a
 * prune reads packs, and on a damaged repository restic 0.14 retries a
 * missing one for many minutes; repacking from damage is no good anyway.
 */
async function forget(lab: string, copy: Copy, restic: Restic, path: string): Promise<number> {
  const r = await restic([
    "forget",
    "--json",
    "--host",
    lab,
    "--tag",
    `holt:${lab}`,
    "--path",
    path,
    "--group-by",
    "host,paths",
    ...resticKeepFlags(copy.keep),
  ]);
  if (r.code !== 0) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      resticError(copy.repository, r, `pruning by the policy failed (${lastLines(r)})`),
    );
  }
  const line = r.stdout.split("\n").find((l) => l.trim().startsWith("["));
  const groups = JSON.parse(line ?? "[]") as { remove?: unknown[] | null }[];
  return groups.reduce((n, g) => n + (g.remove?.length ?? 0), 0);
}

function lastLines(r: ExecResult): string {
  return r.stderr.trim().split("\n").slice(-3).join(" | ") || `exit ${r.code ?? r.signal}`;
}

/** A message naming the repository (never its credentials) and what to do. */
function resticError(repository: ResolvedRepository, r: ExecResult, what: string): string {
  if (/wrong password or no key found/.test(r.stderr)) {
    return `Repository "${repository.name}": the password (secret "${repository.password}") does not open it. Set the right one with \`holt secrets set ${repository.password}\`; nothing was copied.`;
  }
  if (r.code === 127) {
    return `Repository "${repository.name}": restic is not installed on the host. Install it (apt install restic), then run again.`;
  }
  return `Repository "${repository.name}": ${what}.`;
}

/**
 * What restic says is at the repository's location: `restic cat config`,
 * without a lock (a look must not fail on another's lock, nor leave one).
 */
export function probe(restic: Restic): () => Promise<Probe> {
  return async () => {
    const r = await restic(["--no-lock", "cat", "config"]);
    return probeOf(r.code, r.stderr);
  };
}

export function refOf(repository: ResolvedRepository, host: string): RepositoryRef {
  return {
    name: repository.name,
    restic: repository.restic,
    password: repository.password,
    host,
  };
}

export interface InitResult {
  readonly repository: string;
  readonly host: string;
  /** The location (a local path, or the backend's string without credentials). */
  readonly where: string;
  readonly action: "created" | "found" | "already" | "moved";
  /** The file system a local repository is on, as recorded. */
  readonly fileSystem: string | null;
}

/**
 * `holt backup init-offsite NAME`: on each host whose datasets are copied
 * to the repository, creates it where it is missing (`restic init`), records
 * one that exists, and records the file system a local one is on now. Throws
 * at the first host where it cannot, naming what the hosts before it did.
 */
export async function initOffsite(
  lab: ResolvedLab,
  name: string,
  options: Omit<OffsiteOptions, "services" | "facts">,
): Promise<InitResult[]> {
  const repository = lab.backups.repositories[name];
  if (repository === undefined) {
    const names = Object.keys(lab.backups.repositories).sort();
    throw new HoltError(
      "HOLT_E_USAGE",
      `"${name}" is not a repository of backups.repositories. Repositories: ${names.join(", ") || "(none)"}.`,
    );
  }
  const hosts = [
    ...new Set(
      Object.values(lab.services)
        .filter((service) =>
          service.state.some(
            (e) =>
              e.backup !== null && lab.backups.policies[e.backup]?.offsite?.repository === name,
          ),
        )
        .map((service) => service.host),
    ),
  ].sort();
  if (hosts.length === 0) {
    throw new HoltError(
      "HOLT_E_USAGE",
      `No backed-up state is copied to repository "${name}", so there is no host to create it from. Name it in a policy's offsite.repository first.`,
    );
  }
  const now = options.now ?? (() => new Date());
  const local = isLocalRepository(repository.restic);
  const results: InitResult[] = [];
  for (const host of hosts) {
    const exec = await options.connections.execFor(host);
    const restic = resticOn(exec, repository, options.secretValue);
    const ref = refOf(repository, host);
    const location = locationKey(repository.restic);
    const record = options.repositories.load(host, location);
    const before = local ? await readPlace(exec, repository.restic) : null;
    const decision = decideInit(ref, await probe(restic)(), before, record);
    if (decision.kind === "refuse") {
      throw new HoltError("HOLT_E_REPOSITORY", decision.message, {
        details: results.map((r) => `${r.host}: ${r.action}`),
      });
    }
    if (decision.kind === "init") {
      const made = await restic(["init"]);
      if (made.code !== 0) {
        throw new HoltError(
          "HOLT_E_REPOSITORY",
          resticError(repository, made, `creating it on ${host} failed (${lastLines(made)})`),
          { details: results.map((r) => `${r.host}: ${r.action}`) },
        );
      }
    }
    // The path exists now: its file system is the one to hold it to.
    const place =
      local && decision.kind === "init" ? await readPlace(exec, repository.restic) : before;
    if (decision.kind !== "already") {
      options.repositories.save({
        repository: name,
        host,
        location,
        fileSystem: place?.fileSystem ?? null,
        since: now().toISOString(),
        how: decision.kind === "init" ? "init" : "found",
      });
    }
    results.push({
      repository: name,
      host,
      where: local ? repository.restic : showLocation(repository.restic),
      action: decision.kind === "init" ? "created" : decision.kind,
      fileSystem: place === null ? null : describeFileSystem(place.fileSystem),
    });
  }
  return results;
}
