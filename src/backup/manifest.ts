/**
 * Checksum manifests: what a dataset held at a snapshot, file by file
 * (type, mode, owner, size, SHA-256 of regular files, symlink targets),
 * recorded when the snapshot is taken, so a restore or a drill can prove
 * that what it put back is exactly that.
 *
 * A manifest is read on the dataset's host with `find` and `sha256sum`
 * (NUL-separated, so any file name survives). Files whose size and
 * modification time match the previous manifest keep their checksum, so an
 * hourly manifest of a dataset that barely changed reads only what changed.
 *
 * Both are read as their output streams, record by record: a dataset of a
 * million files lists about 100 MB, more than `Exec.run` keeps of one
 * program's output, and the entries are all holt needs to hold.
 */
import { HoltError } from "../errors.ts";
import type { Exec, ExecRequest, ExecResult } from "../hosts/exec.ts";
import { stderrTail } from "../hosts/run-checked.ts";

export interface ManifestEntry {
  /** find's %y: f file, d directory, l symlink, … */
  readonly type: string;
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  /** Regular files only; 0 otherwise. */
  readonly size: number;
  /** Seconds since the epoch as find prints them; a cache key only, never compared. */
  readonly mtime: string;
  /** Regular files: hex SHA-256; symlinks: the target; otherwise "". */
  readonly content: string;
}

/** Path (relative to the dataset's root) → entry. */
export type Manifest = ReadonlyMap<string, ManifestEntry>;

/** Where manifests are kept (the catalog): the backup layer only asks. */
export interface ManifestStore {
  /** The manifest recorded for this dataset (`host:dataset`) at this snapshot, or the newest one. */
  load(subject: string, snapshot?: string): Manifest | null;
  save(subject: string, snapshot: string, manifest: Manifest): void;
  /** Drops the manifests of snapshots named before this one. */
  forget(subject: string, before: string): void;
}

const FIELDS = 8;

/** The manifest of what is under `dir` on the exec's host. */
export async function readManifest(
  exec: Exec,
  dir: string,
  previous: Manifest | null = null,
): Promise<Manifest> {
  const entries = new Map<string, ManifestEntry>();
  const toHash: string[] = [];
  const add = (record: readonly string[]): void => {
    const [
      type = "",
      path = "",
      size = "0",
      mtime = "",
      mode = "",
      uid = "0",
      gid = "0",
      link = "",
    ] = record;
    const isFile = type === "f";
    const before = previous?.get(path);
    const cached =
      isFile &&
      before !== undefined &&
      before.type === "f" &&
      before.size === Number(size) &&
      before.mtime === mtime
        ? before.content
        : "";
    if (isFile && cached === "") toHash.push(path);
    entries.set(path, {
      type,
      mode,
      uid: Number(uid),
      gid: Number(gid),
      size: isFile ? Number(size) : 0,
      mtime,
      content: isFile ? cached : type === "l" ? link : "",
    });
  };
  let fields: string[] = [];
  const listed = await runRecords(
    exec,
    {
      argv: [
        "find",
        dir,
        "-xdev",
        "-mindepth",
        "1",
        "-printf",
        "%y\\0%P\\0%s\\0%T@\\0%m\\0%U\\0%G\\0%l\\0",
      ],
      timeoutMs: 0,
    },
    (field) => {
      fields.push(field);
      if (fields.length < FIELDS) return;
      add(fields);
      fields = [];
    },
  );
  if (listed.code !== 0) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      `Could not list ${dir} on ${exec.target} for its checksum manifest: ${listed.stderr.trim()}`,
    );
  }
  for (const [path, sha] of await hashFiles(exec, dir, toHash)) {
    const entry = entries.get(path);
    if (entry !== undefined) entries.set(path, { ...entry, content: sha });
  }
  return entries;
}

async function hashFiles(
  exec: Exec,
  dir: string,
  paths: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (paths.length === 0) return out;
  const r = await runRecords(
    exec,
    {
      argv: ["sh", "-c", 'cd "$1" && exec xargs -0 -r sha256sum -z --', "holt-manifest", dir],
      stdin: `${paths.join("\0")}\0`,
      timeoutMs: 0,
    },
    (line) => {
      // "<64 hex>  <path>"; with -z the name is never escaped.
      if (line.length >= 66) out.set(line.slice(66), line.slice(0, 64));
    },
  );
  if (r.code !== 0) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      `Could not checksum the files under ${dir} on ${exec.target}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
  return out;
}

/**
 * Runs a program whose stdout is NUL-terminated records, handing each to
 * `onRecord` as it arrives; stderr is kept to its end. What a program prints
 * this way is never held whole, so `Exec.run`'s cap on output does not apply.
 */
async function runRecords(
  exec: Exec,
  request: ExecRequest,
  onRecord: (record: string) => void,
): Promise<ExecResult> {
  let partial = "";
  let stderr = "";
  const result = await exec.run({
    ...request,
    onOutput: (stream, chunk) => {
      if (stream === "stderr") {
        stderr = stderrTail(stderr, chunk);
        return;
      }
      const records = (partial + chunk).split("\0");
      partial = records.pop() ?? "";
      for (const record of records) onRecord(record);
    },
  });
  return { ...result, stdout: "", stderr };
}

/** What differs between the recorded manifest and what is there, at most `max` lines. */
export function manifestDifferences(expected: Manifest, actual: Manifest, max = 10): string[] {
  const out: string[] = [];
  const add = (line: string) => {
    if (out.length < max) out.push(line);
  };
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (got === undefined) add(`missing: ${path}`);
    else if (got.type !== want.type) add(`${path}: a ${got.type}, was a ${want.type}`);
    else if (got.content !== want.content || got.size !== want.size)
      add(`${path}: content differs`);
    else if (got.mode !== want.mode || got.uid !== want.uid || got.gid !== want.gid) {
      add(
        `${path}: mode or owner ${got.mode} ${got.uid}:${got.gid}, was ${want.mode} ${want.uid}:${want.gid}`,
      );
    }
  }
  for (const path of actual.keys()) if (!expected.has(path)) add(`extra: ${path}`);
  return out;
}

/** Totals for messages: files and bytes. */
export function manifestSize(manifest: Manifest): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of manifest.values()) {
    if (e.type !== "f") continue;
    files += 1;
    bytes += e.size;
  }
  return { files, bytes };
}

/** Compact JSON for storage: `[[path, type, mode, uid, gid, size, mtime, content], …]`. */
export function encodeManifest(manifest: Manifest): string {
  return JSON.stringify(
    [...manifest].map(([p, e]) => [p, e.type, e.mode, e.uid, e.gid, e.size, e.mtime, e.content]),
  );
}

export function decodeManifest(text: string): Manifest {
  const rows = JSON.parse(text) as [
    string,
    string,
    string,
    number,
    number,
    number,
    string,
    string,
  ][];
  return new Map(
    rows.map(([path, type, mode, uid, gid, size, mtime, content]) => [
      path,
      { type, mode, uid, gid, size, mtime, content },
    ]),
  );
}
