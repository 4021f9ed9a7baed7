/**
 * The backup catalog: one row per backup step (snapshot, replica, offsite,
 * check, verify) with its outcome, in SQLite beside the journal. Like the
 * journal it is history, not truth: the copies themselves are on the
 * systems. `holt backup status` reads the newest row of each kind per
 * dataset for ages and failures; the alerting work reads failures from it.
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { HoltError } from "../errors.ts";

export type CatalogKind = "snapshot" | "replica" | "offsite" | "check" | "verify";

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
`;

export class BackupCatalog {
  readonly #db: DatabaseSync;

  constructor(dir: string) {
    const path = join(dir, "backups.db");
    try {
      this.#db = new DatabaseSync(path);
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
