/**
 * Whether an offsite repository may be used, and where holt recorded it.
 *
 * holt never creates a repository by itself: only `holt backup init-offsite
 * NAME` runs `restic init`. Otherwise a repository on a disk that is not
 * mounted (a NAS share, a USB disk) would silently become a new, empty one
 * on whatever is at that path now, usually the root disk. What holt
 * recorded (in the backup catalog, per host and repository) is the file
 * system a local repository was on when it was created or first found: a
 * path that is now on another file system is refused, since what is there
 * is not that repository.
 *
 * A file system is known by what survives a reboot: its UUID where
 * `findmnt` shows one, else its source (a device, `server:/export`, a ZFS
 * dataset), type and mount point. Not the device number (st_dev), which
 * can change across reboots for network and FUSE file systems.
 *
 * The decisions are pure functions returning values; offsite.ts runs them.
 */
import { createHash } from "node:crypto";
import { HoltError } from "../errors.ts";
import type { Exec } from "../hosts/exec.ts";

/** A mounted file system, as `findmnt` shows the one holding a path. */
export interface FileSystemId {
  readonly target: string;
  readonly source: string;
  readonly fstype: string;
  readonly uuid: string | null;
}

/** What holt recorded about a repository as one host uses it. */
export interface RepositoryRecord {
  /** The repository's name in the config. */
  readonly repository: string;
  readonly host: string;
  /** `locationKey()` of its restic string: a digest, without the credentials a URL can hold. */
  readonly location: string;
  /** The file system of a local repository's path; null for other backends. */
  readonly fileSystem: FileSystemId | null;
  /** When holt created it (`init`) or first found it there (`found`). */
  readonly since: string;
  readonly how: "init" | "found";
}

/** Where holt keeps those records (the backup catalog). */
export interface RepositoryStore {
  load(host: string, location: string): RepositoryRecord | null;
  save(record: RepositoryRecord): void;
}

/** A local path's state: whether it exists, and the file system it (or its nearest existing parent) is on. */
export interface PlaceReading {
  readonly exists: boolean;
  readonly fileSystem: FileSystemId;
}

/** What `restic cat config` said about the repository. */
export type Probe =
  | { readonly kind: "exists" }
  | { readonly kind: "missing"; readonly why: string }
  | { readonly kind: "wrong password" }
  | { readonly kind: "failed"; readonly why: string };

/** How a repository is named in messages: its name, and where it is, never its credentials. */
export interface RepositoryRef {
  readonly name: string;
  readonly restic: string;
  readonly password: string;
  readonly host: string;
}

/**
 * The key a repository's location is recorded under: a digest of where it
 * is, without the user and password a URL may carry (up to the last `@`
 * before the path, where restic's URL parser ends them), so that neither
 * reaches the catalog, and a changed password keeps the record.
 */
export function locationKey(restic: string): string {
  return createHash("sha256")
    .update(restic.replace(/(\/\/)[^/]*@/, "$1"))
    .digest("hex");
}

/** restic treats a string without a backend prefix as a local folder; the config allows only absolute ones. */
export function isLocalRepository(restic: string): boolean {
  return restic.startsWith("/");
}

/**
 * The location for messages: user and password of a URL left out, up to its
 * last `@` (a password may hold `@`, and `/` where it is not escaped: more is
 * hidden then, never less).
 */
export function showLocation(restic: string): string {
  return restic.replace(/(\/\/).*@/s, "$1…@");
}

export function sameFileSystem(a: FileSystemId, b: FileSystemId): boolean {
  if (a.uuid !== null && b.uuid !== null) return a.uuid === b.uuid;
  return a.source === b.source && a.fstype === b.fstype && a.target === b.target;
}

export function describeFileSystem(fs: FileSystemId): string {
  return `${fs.fstype} ${fs.source}${fs.uuid === null ? "" : ` (UUID ${fs.uuid})`} mounted at ${fs.target}`;
}

function where(ref: RepositoryRef): string {
  return isLocalRepository(ref.restic)
    ? `${ref.restic} on ${ref.host}`
    : `${showLocation(ref.restic)} (as seen from ${ref.host})`;
}

function recorded(record: RepositoryRecord): string {
  const what = record.how === "init" ? "created it there" : "first used it there";
  return `holt ${what} on ${record.since.slice(0, 10)}${record.fileSystem === null ? "" : `, on ${describeFileSystem(record.fileSystem)}`}`;
}

/** Before restic touches a local repository's path: the path must be there, on the recorded file system. */
export type PlaceDecision =
  | { readonly kind: "go" }
  | { readonly kind: "refuse"; readonly message: string };

export function decidePlace(
  ref: RepositoryRef,
  place: PlaceReading,
  record: RepositoryRecord | null,
): PlaceDecision {
  const now = describeFileSystem(place.fileSystem);
  if (!place.exists) {
    const base = `Repository "${ref.name}": holt looked for it at ${where(ref)}, and that path does not exist (the nearest folder that does is on ${now}).`;
    return {
      kind: "refuse",
      message:
        record === null
          ? `${base} holt does not create a repository by itself. If it is on a disk or share that is not mounted, mount it; to create a new repository there, run \`holt backup init-offsite ${ref.name}\`.`
          : `${base} ${recorded(record)}. Mount what holds it, then run again; if it is lost for good, \`holt backup init-offsite ${ref.name}\` creates a new, empty one.`,
    };
  }
  if (record?.fileSystem == null || sameFileSystem(record.fileSystem, place.fileSystem)) {
    return { kind: "go" };
  }
  return {
    kind: "refuse",
    message: `Repository "${ref.name}": ${where(ref)} is on ${now}, but ${recorded(record)}: what is at that path now is not that repository, or the disk that holds it is not mounted. Mount it, then run again. If you moved the repository to this file system on purpose, run \`holt backup init-offsite ${ref.name}\` to record where it is now.`,
  };
}

/** After restic looked (and, for a local path, `decidePlace` said go): use it, record it first, or stop. */
export type UseDecision =
  | { readonly kind: "use" }
  | { readonly kind: "record" }
  | { readonly kind: "refuse"; readonly message: string };

export function decideUse(
  ref: RepositoryRef,
  probe: Probe,
  record: RepositoryRecord | null,
): UseDecision {
  if (probe.kind === "exists") return record === null ? { kind: "record" } : { kind: "use" };
  if (probe.kind === "wrong password") return { kind: "refuse", message: wrongPassword(ref) };
  if (probe.kind === "failed") {
    return {
      kind: "refuse",
      message: `Repository "${ref.name}": restic could not open ${where(ref)} (${probe.why}).`,
    };
  }
  const base = `Repository "${ref.name}": there is no restic repository at ${where(ref)} (restic: ${probe.why}).`;
  return {
    kind: "refuse",
    message:
      record === null
        ? `${base} holt does not create a repository by itself: to create it, run \`holt backup init-offsite ${ref.name}\`.`
        : `${base} ${recorded(record)}. Check that it is reachable and that its settings point where they did; if it is lost for good, \`holt backup init-offsite ${ref.name}\` creates a new, empty one.`,
  };
}

export function wrongPassword(ref: RepositoryRef): string {
  return `Repository "${ref.name}": the password (secret "${ref.password}") does not open it. Set the right one with \`holt secrets set ${ref.password}\`; nothing was copied.`;
}

/** What `holt backup init-offsite` does on one host. */
export type InitDecision =
  | { readonly kind: "init" }
  | { readonly kind: "found" }
  | { readonly kind: "already" }
  | { readonly kind: "moved" }
  | { readonly kind: "refuse"; readonly message: string };

/**
 * An explicit init creates a repository that is not there, records one
 * that is (made by hand, or by an older holt), and records a new file
 * system for one that was moved; it never runs `restic init` over an
 * existing repository.
 */
export function decideInit(
  ref: RepositoryRef,
  probe: Probe,
  place: PlaceReading | null,
  record: RepositoryRecord | null,
): InitDecision {
  if (probe.kind === "wrong password") {
    return {
      kind: "refuse",
      message: `Repository "${ref.name}": a repository is at ${where(ref)}, and the password (secret "${ref.password}") does not open it. holt does not create another over it. Set the right password with \`holt secrets set ${ref.password}\`, or point the config at another location.`,
    };
  }
  if (probe.kind === "failed") {
    return {
      kind: "refuse",
      message: `Repository "${ref.name}": restic could not tell whether a repository is at ${where(ref)} (${probe.why}). Nothing was created.`,
    };
  }
  if (probe.kind === "missing") return { kind: "init" };
  if (record === null) return { kind: "found" };
  if (
    record.fileSystem !== null &&
    place !== null &&
    !sameFileSystem(record.fileSystem, place.fileSystem)
  ) {
    return { kind: "moved" };
  }
  return { kind: "already" };
}

/**
 * Failures to reach a backend, which restic also reports as "unable to open
 * config file ... Is there a repository at the following location?": the
 * repository may well be there.
 */
const UNREACHABLE =
  /dial tcp|connection refused|connection reset|no such host|network is unreachable|no route to host|i\/o timeout|TLS handshake|x509:|certificate/i;

/** `restic cat config`'s outcome as a probe. */
export function probeOf(code: number | null, stderr: string): Probe {
  if (code === 0) return { kind: "exists" };
  if (code === 127) {
    return {
      kind: "failed",
      why: "restic is not installed on the host; install it (apt install restic)",
    };
  }
  if (/wrong password or no key found/.test(stderr)) return { kind: "wrong password" };
  const lines = stderr.trim().split("\n");
  const asked = lines.findIndex((l) => /Is there a repository at the following location\?/.test(l));
  if (asked >= 0) {
    // The line before restic's question says why it found none.
    const why = (lines[asked - 1] ?? "").replace(/^Fatal: /, "").trim() || `exit ${code}`;
    return UNREACHABLE.test(why) ? { kind: "failed", why } : { kind: "missing", why };
  }
  const why = lines.slice(-2).join(" | ") || `exit ${code}`;
  return { kind: "failed", why };
}

/**
 * `findmnt`'s answer for a path (or, when it does not exist, its nearest
 * existing parent): the first line says whether the path itself exists.
 * Where file systems are stacked on one mount point, findmnt lists them
 * from the bottom up; the last is the one a process sees (an NFS share an
 * automount mounted over its `autofs` trigger, a disk mounted over another).
 */
export function parsePlace(stdout: string): PlaceReading | null {
  const newline = stdout.indexOf("\n");
  const first = stdout.slice(0, newline).trim();
  if (first !== "yes" && first !== "no") return null;
  try {
    const parsed = JSON.parse(stdout.slice(newline + 1)) as {
      filesystems?: { target?: unknown; source?: unknown; fstype?: unknown; uuid?: unknown }[];
    };
    const fs = parsed.filesystems?.at(-1);
    if (
      fs === undefined ||
      typeof fs.target !== "string" ||
      typeof fs.source !== "string" ||
      typeof fs.fstype !== "string"
    ) {
      return null;
    }
    const uuid = typeof fs.uuid === "string" && fs.uuid !== "" ? fs.uuid : null;
    return {
      exists: first === "yes",
      fileSystem: { target: fs.target, source: fs.source, fstype: fs.fstype, uuid },
    };
  } catch {
    return null;
  }
}

/** Whether a local repository's path exists on `exec`'s host, and which file system holds it. */
export async function readPlace(exec: Exec, path: string): Promise<PlaceReading> {
  const script =
    'p="$1"; e=yes; while [ ! -e "$p" ]; do e=no; p="$(dirname -- "$p")"; done; echo "$e"; exec findmnt -J -o TARGET,SOURCE,FSTYPE,UUID --target "$p"';
  const r = await exec.run({ argv: ["sh", "-c", script, "holt-findmnt", path] });
  const place = r.code === 0 ? parsePlace(r.stdout) : null;
  if (place !== null) return place;
  throw new HoltError(
    "HOLT_E_REPOSITORY",
    r.code === 127
      ? `Cannot tell which file system ${path} is on, on ${exec.target}: findmnt is not installed. Install util-linux, then run again.`
      : `Cannot tell which file system ${path} is on, on ${exec.target}: findmnt ${r.code === 0 ? "printed what holt does not understand" : `failed (${r.stderr.trim() || `exit ${r.code ?? r.signal}`})`}.`,
  );
}

/**
 * Whether the repository may be used from this host: for a local path, the
 * path is there on the file system recorded for it; restic (through
 * `probe`, built in offsite.ts) finds a repository there that the password opens. Returns null when it may, else
 * why not (what holt looked at, and what to do). A repository found without
 * a record (made by hand, or by an older holt) is recorded when `record`.
 */
export async function openRepository(
  exec: Exec,
  ref: RepositoryRef,
  probe: () => Promise<Probe>,
  options: { store: RepositoryStore; record: boolean; now: () => Date },
): Promise<string | null> {
  const location = locationKey(ref.restic);
  const record = options.store.load(ref.host, location);
  let place: PlaceReading | null = null;
  if (isLocalRepository(ref.restic)) {
    place = await readPlace(exec, ref.restic);
    const decision = decidePlace(ref, place, record);
    if (decision.kind === "refuse") return decision.message;
  }
  const decision = decideUse(ref, await probe(), record);
  if (decision.kind === "refuse") return decision.message;
  if (decision.kind === "record" && options.record) {
    options.store.save({
      repository: ref.name,
      host: ref.host,
      location,
      fileSystem: place?.fileSystem ?? null,
      since: options.now().toISOString(),
      how: "found",
    });
  }
  return null;
}
