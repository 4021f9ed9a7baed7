/**
 * The backup catalog: one row per backup step (snapshot, replica, offsite,
 * check, verify) with its outcome, in SQLite beside the journal; the
 * checksum manifests; and where each offsite repository was created or
 * first found. Like the
 * journal it is history, not truth: the copies themselves are on the
 * systems. `holt backup status` reads the newest row of each kind per
 * dataset for ages and failures; the alerting work reads failures from it.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { HoltError } from "../errors.ts";
import { openPrivateDatabase } from "./private-db.ts";

export type CatalogKind = "snapshot" | "replica" | "offsite" | "check" | "verify" | "restore";

export interface CatalogEntry {
  readonly kind: CatalogKind;
  /** `host:dataset` (for a check: `host:repository`). */
  readonly subject: string;
  readonly service: string | null;
  /** The ZFS snapshot name the step was about, if any. */
  readonly snapshot: string | null;
  /** Where the copy went: `host:dataset` of a replica, a repository's name. */
  readonly target: string | null;
  readonly at: string;
  readonly ok: boolean;
  readonly bytes: number;
  readonly seconds: number;
  readonly error: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS backup_steps (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  service TEXT,
  snapshot TEXT,
  target TEXT,
  at TEXT NOT NULL,
  ok INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  seconds REAL NOT NULL,
  error TEXT
);
CREATE INDEX IF NOT EXISTS backup_steps_subject ON backup_steps (subject, kind, id);
CREATE TABLE IF NOT EXISTS manifests (
  subject TEXT NOT NULL,
  snapshot TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (subject, snapshot)
);
CREATE TABLE IF NOT EXISTS manifest_bodies (
  digest TEXT PRIMARY KEY,
  body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS repositories (
  host TEXT NOT NULL,
  location TEXT NOT NULL,
  repository TEXT NOT NULL,
  filesystem TEXT,
  since TEXT NOT NULL,
  how TEXT NOT NULL,
  PRIMARY KEY (host, location)
);
`;

/**
 * An offsite repository as one host uses it: created by holt (`init`) or
 * first found there (`found`), and for a local path the file system it was
 * on then (JSON). `location` is a digest of restic's repository string,
 * without the credentials a URL can hold.
 */
export interface RepositoryRow {
  readonly host: string;
  readonly location: string;
  readonly repository: string;
  readonly filesystem: string | null;
  readonly since: string;
  readonly how: string;
}

export class BackupCatalog {
  readonly #db: DatabaseSync;

  constructor(dir: string) {
    const path = join(dir, "backups.db");
    try {
      this.#db = openPrivateDatabase(path);
      this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
      this.#db.exec(SCHEMA);
    } catch (error) {
      throw new HoltError(
        "HOLT_E_STATE",
        `Cannot open the backup catalog ${path}: ${(error as Error).message}.`,
        { cause: error },
      );
    }
  }

  record(entry: CatalogEntry): void {
    this.#db
      .prepare(
        "INSERT INTO backup_steps (kind, subject, service, snapshot, target, at, ok, bytes, seconds, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(
        entry.kind,
        entry.subject,
        entry.service,
        entry.snapshot,
        entry.target,
        entry.at,
        entry.ok ? 1 : 0,
        entry.bytes,
        entry.seconds,
        entry.error,
      );
  }

  /** The newest step of a kind for a subject, and the newest one that succeeded. */
  latest(
    subject: string,
    kind: CatalogKind,
  ): { last: CatalogEntry | null; lastOk: CatalogEntry | null } {
    const row = (sql: string) =>
      this.#db.prepare(sql).get(subject, kind) as Record<string, unknown> | undefined;
    const base = "SELECT * FROM backup_steps WHERE subject = ? AND kind = ?";
    return {
      last: toEntry(row(`${base} ORDER BY id DESC LIMIT 1`)),
      lastOk: toEntry(row(`${base} AND ok = 1 ORDER BY id DESC LIMIT 1`)),
    };
  }

  /**
   * Keeps a checksum manifest (compact JSON) for a dataset's snapshot. Bodies
   * are stored once by digest: the hourly manifests of a dataset that did not
   * change share one.
   */
  saveManifest(subject: string, snapshot: string, json: string): void {
    const digest = createHash("sha256").update(json).digest("hex");
    // One transaction: a forget between the two inserts would leave a row without its body.
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#db
        .prepare("INSERT OR IGNORE INTO manifest_bodies (digest, body) VALUES (?, ?)")
        .run(digest, process.getBuiltinModule("node:zlib").gzipSync(json));
      this.#db
        .prepare("INSERT OR REPLACE INTO manifests (subject, snapshot, digest) VALUES (?, ?, ?)")
        .run(subject, snapshot, digest);
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** The manifest kept for this snapshot, or the newest one (by snapshot name) when none is named. */
  loadManifest(subject: string, snapshot?: string): string | null {
    const row = (
      snapshot === undefined
        ? this.#db
            .prepare(
              "SELECT b.body FROM manifests m JOIN manifest_bodies b ON b.digest = m.digest WHERE m.subject = ? ORDER BY m.snapshot DESC LIMIT 1",
            )
            .get(subject)
        : this.#db
            .prepare(
              "SELECT b.body FROM manifests m JOIN manifest_bodies b ON b.digest = m.digest WHERE m.subject = ? AND m.snapshot = ?",
            )
            .get(subject, snapshot)
    ) as { body: Uint8Array } | undefined;
    return row === undefined
      ? null
      : process.getBuiltinModule("node:zlib").gunzipSync(row.body).toString("utf8");
  }

  /** Forgets manifests of snapshots named before `oldest` (holt's names sort by time), and unused bodies. */
  forgetManifests(subject: string, oldest: string): void {
    this.#db
      .prepare("DELETE FROM manifests WHERE subject = ? AND snapshot < ?")
      .run(subject, oldest);
    this.#db.exec(
      "DELETE FROM manifest_bodies WHERE digest NOT IN (SELECT DISTINCT digest FROM manifests)",
    );
  }

  /** What was recorded about a repository on a host, or null. */
  loadRepository(host: string, location: string): RepositoryRow | null {
    const row = this.#db
      .prepare("SELECT * FROM repositories WHERE host = ? AND location = ?")
      .get(host, location) as Record<string, unknown> | undefined;
    if (row === undefined) return null;
    return {
      host: String(row.host),
      location: String(row.location),
      repository: String(row.repository),
      filesystem: (row.filesystem as string | null) ?? null,
      since: String(row.since),
      how: String(row.how),
    };
  }

  saveRepository(row: RepositoryRow): void {
    this.#db
      .prepare(
        "INSERT OR REPLACE INTO repositories (host, location, repository, filesystem, since, how) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(row.host, row.location, row.repository, row.filesystem, row.since, row.how);
  }

  close(): void {
    this.#db.close();
  }
}

function toEntry(row: Record<string, unknown> | undefined): CatalogEntry | null {
  if (row === undefined) return null;
  return {
    kind: row.kind as CatalogKind,
    subject: String(row.subject),
    service: (row.service as string | null) ?? null,
    snapshot: (row.snapshot as string | null) ?? null,
    target: (row.target as string | null) ?? null,
    at: String(row.at),
    ok: row.ok === 1,
    bytes: Number(row.bytes),
    seconds: Number(row.seconds),
    error: (row.error as string | null) ?? null,
  };
}
