/**
 * `backups`: named policies (local snapshot retention, a replica on another
 * host, an offsite restic repository) and the repositories; each state
 * entry's `backup` and each service's `hooks`. Shapes were checked by zod;
 * this resolves defaults and checks references, each problem with its path
 * and a fix.
 */
import { formatPath, type Problem, showValue, suggest } from "./path.ts";
import { isSecretRef } from "./secret.ts";
import type {
  ResolvedBackupPolicy,
  ResolvedBackups,
  ResolvedHooks,
  ResolvedHost,
  ResolvedKeep,
  ResolvedRepository,
} from "./types.ts";

/** The policy every state dataset gets unless it names another or says `backup: false`. */
export const DEFAULT_POLICY = "default";
export const DEFAULT_SNAPSHOTS: ResolvedKeep = {
  last: 0,
  hourly: 24,
  daily: 30,
  weekly: 8,
  monthly: 12,
  yearly: 0,
};

const RESTIC_BACKENDS = ["sftp:", "rest:", "s3:", "b2:", "azure:", "gs:", "swift:", "rclone:"];
const POLICY_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const DATASET = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A keep's counts (a count left out is 0), or `fallback` when it is not
 * given. A keep of zeros is refused: `restic forget` reads it as "keep
 * everything", a reader of the counts as "keep only the newest", so the
 * user says which to do.
 */
function keepOf(
  raw: unknown,
  fallback: ResolvedKeep,
  at: readonly string[],
  problems: Problem[],
): ResolvedKeep {
  if (raw === undefined) return fallback;
  const counts = isRecord(raw) ? raw : {};
  const n = (v: unknown) => (typeof v === "number" ? v : 0);
  const keep: ResolvedKeep = {
    last: n(counts.last),
    hourly: n(counts.hourly),
    daily: n(counts.daily),
    weekly: n(counts.weekly),
    monthly: n(counts.monthly),
    yearly: n(counts.yearly),
  };
  // An unknown key, or a count that is not a whole number from 0 up, is reported by the shape
  // check with its fix; saying "every count is 0" of { hourly: -1 } too would be wrong.
  const wellFormed =
    isRecord(raw) &&
    Object.entries(raw).every(
      ([k, v]) => Object.hasOwn(keep, k) && Number.isInteger(v) && (v as number) >= 0,
    );
  if (wellFormed && Object.values(keep).every((count) => count === 0)) {
    problems.push({
      path: formatPath(at),
      message: `${showValue(raw)} keeps no snapshot by count: every count is 0 (a count left out is 0). Write { last: 1 } to keep only the newest, or counts such as { hourly: 24, daily: 7 }, or leave it out for the default ${showKeep(DEFAULT_SNAPSHOTS)}.`,
    });
  }
  return keep;
}

/** `{ hourly: 24, daily: 30 }`: the counts above 0, as a user writes them. */
function showKeep(keep: ResolvedKeep): string {
  const counts = Object.entries(keep).filter(([, count]) => count > 0);
  return `{ ${counts.map(([kind, count]) => `${kind}: ${count}`).join(", ")} }`;
}

/** What holt sets in restic's environment itself, and from where: a repository's `env` may not. */
const RESTIC_ENV_BY_HOLT: Readonly<Record<string, string>> = {
  RESTIC_REPOSITORY: 'from the repository\'s "restic"',
  RESTIC_PASSWORD: 'from the repository\'s "password" secret',
  TZ: "to UTC, so that the times restic stores and the days, weeks and years `restic forget` counts are holt's",
};

function resolveRepository(
  name: string,
  raw: Record<string, unknown>,
  problems: Problem[],
): ResolvedRepository | null {
  const at = ["backups", "repositories", name];
  if (typeof raw.restic !== "string" || !isSecretRef(raw.password)) return null;
  const restic = raw.restic;
  const known = restic.startsWith("/") || RESTIC_BACKENDS.some((b) => restic.startsWith(b));
  if (!known) {
    problems.push({
      path: formatPath([...at, "restic"]),
      message: `${showValue(restic)} is not a restic repository. Use an absolute path, or one of ${RESTIC_BACKENDS.map((b) => `"${b}…"`).join(", ")}.`,
    });
  }
  const env: Record<string, { value: string } | { secret: string }> = {};
  for (const [key, value] of Object.entries(isRecord(raw.env) ? raw.env : {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      problems.push({
        path: formatPath([...at, "env", key]),
        message: `"${key}" is not an environment variable name. Use letters, digits and "_", like "AWS_ACCESS_KEY_ID".`,
      });
      continue;
    }
    if (Object.hasOwn(RESTIC_ENV_BY_HOLT, key)) {
      problems.push({
        path: formatPath([...at, "env", key]),
        message: `"${key}" is set by holt, ${RESTIC_ENV_BY_HOLT[key]}. Remove it.`,
      });
      continue;
    }
    if (typeof value === "string") env[key] = { value };
    else if (isSecretRef(value)) env[key] = { secret: value.name };
  }
  return { name, restic, password: raw.password.name, env };
}

export function resolveBackups(
  raw: unknown,
  hosts: Readonly<Record<string, ResolvedHost>>,
  problems: Problem[],
): ResolvedBackups {
  const backups = isRecord(raw) ? raw : {};
  const repositories: Record<string, ResolvedRepository> = {};
  for (const [name, rawRepo] of Object.entries(
    isRecord(backups.repositories) ? backups.repositories : {},
  )) {
    if (!isRecord(rawRepo)) continue;
    const repo = resolveRepository(name, rawRepo, problems);
    if (repo !== null) repositories[name] = repo;
  }
  const policies: Record<string, ResolvedBackupPolicy> = {
    [DEFAULT_POLICY]: {
      name: DEFAULT_POLICY,
      snapshots: DEFAULT_SNAPSHOTS,
      replica: null,
      offsite: null,
    },
  };
  for (const [name, rawPolicy] of Object.entries(
    isRecord(backups.policies) ? backups.policies : {},
  )) {
    const at = ["backups", "policies", name];
    if (!POLICY_NAME.test(name)) {
      problems.push({
        path: formatPath(at),
        message: `"${name}" is not a valid policy name. Use lower-case letters, digits and "-", starting with a letter.`,
      });
      continue;
    }
    if (!isRecord(rawPolicy)) continue;
    // Every keep is checked, also beside a replica or repository that is wrong: one run shows all.
    const snapshots = keepOf(
      rawPolicy.snapshots,
      DEFAULT_SNAPSHOTS,
      [...at, "snapshots"],
      problems,
    );
    let replica: ResolvedBackupPolicy["replica"] = null;
    if (isRecord(rawPolicy.replica) && typeof rawPolicy.replica.to === "string") {
      const keep = keepOf(
        rawPolicy.replica.keep,
        DEFAULT_SNAPSHOTS,
        [...at, "replica", "keep"],
        problems,
      );
      const to = rawPolicy.replica.to;
      const colon = to.indexOf(":");
      const host = colon < 0 ? "" : to.slice(0, colon);
      const dataset = colon < 0 ? "" : to.slice(colon + 1);
      if (hosts[host] === undefined || !DATASET.test(dataset) || !dataset.includes("/")) {
        const guess = suggest(host, Object.keys(hosts));
        problems.push({
          path: formatPath([...at, "replica", "to"]),
          message: `${showValue(to)} is not "<host>:<dataset>" with a host of this lab and a dataset below a pool, like "nas:backup/holt".${hosts[host] === undefined && guess ? ` Did you mean host "${guess}"?` : ""}`,
        });
      } else {
        replica = { host, dataset, keep };
      }
    }
    let offsite: ResolvedBackupPolicy["offsite"] = null;
    if (isRecord(rawPolicy.offsite) && typeof rawPolicy.offsite.repository === "string") {
      const keep = keepOf(
        rawPolicy.offsite.keep,
        DEFAULT_SNAPSHOTS,
        [...at, "offsite", "keep"],
        problems,
      );
      const repository = rawPolicy.offsite.repository;
      if (repositories[repository] === undefined) {
        const guess = suggest(repository, Object.keys(repositories));
        problems.push({
          path: formatPath([...at, "offsite", "repository"]),
          message: `"${repository}" is not a repository of backups.repositories.${guess ? ` Did you mean "${guess}"?` : " Declare it there."}`,
        });
      } else {
        offsite = { repository, keep };
      }
    }
    policies[name] = { name, snapshots, replica, offsite };
  }
  return { policies, repositories };
}

/** A state entry's policy: its `backup`, or the default; null for `backup: false`. */
export function resolveEntryBackup(
  raw: unknown,
  at: readonly (string | number)[],
  policies: readonly string[],
  problems: Problem[],
): string | null {
  if (raw === false) return null;
  const name = typeof raw === "string" ? raw : DEFAULT_POLICY;
  if (!policies.includes(name)) {
    const guess = suggest(name, policies);
    problems.push({
      path: formatPath([...at, "backup"]),
      message: `"${name}" is not a policy of backups.policies.${guess ? ` Did you mean "${guess}"?` : ` Policies: ${policies.join(", ")}.`} Or write backup: false.`,
    });
  }
  return name;
}

export function resolveHooks(raw: unknown): ResolvedHooks {
  const hooks = isRecord(raw) ? raw : {};
  const list = (v: unknown) =>
    Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null;
  return {
    preSnapshot: list(hooks.preSnapshot),
    postSnapshot: list(hooks.postSnapshot),
    verify: list(hooks.verify),
  };
}
