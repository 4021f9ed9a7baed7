/**
 * The journal: every apply and every step event, in SQLite (node:sqlite).
 * It is history, not truth: ownership lives in the managed systems, so a lost
 * journal loses the log and nothing else.
 */

import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import type { ApplyEvent } from "../engine/events.ts";
import type { PlanSummary } from "../engine/plan-types.ts";
import { HoltError } from "../errors.ts";
import { openPrivateDatabase } from "./private-db.ts";

export interface ApplyRecord {
  readonly id: number;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  /** "running" until it ends; a crashed apply stays "running" until the next one marks it "interrupted". */
  readonly status: "running" | "succeeded" | "failed" | "interrupted";
  readonly command: string;
  readonly user: string;
  readonly host: string;
  readonly summary: PlanSummary;
}

export interface StepRecord {
  readonly seq: number;
  readonly at: string;
  readonly kind: ApplyEvent["kind"];
  readonly address: string | null;
  readonly action: string | null;
  readonly detail: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS applies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  status TEXT NOT NULL,
  command TEXT NOT NULL,
  user TEXT NOT NULL,
  host TEXT NOT NULL,
  summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  apply_id INTEGER NOT NULL REFERENCES applies(id),
  seq INTEGER NOT NULL,
  at TEXT NOT NULL,
  kind TEXT NOT NULL,
  address TEXT,
  action TEXT,
  detail TEXT,
  PRIMARY KEY (apply_id, seq)
);
`;

export class Journal {
  readonly #db: DatabaseSync;

  constructor(dir: string) {
    const path = join(dir, "journal.db");
    try {
      this.#db = openPrivateDatabase(path);
      this.#db.exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
      );
      this.#db.exec(SCHEMA);
    } catch (error) {
      throw new HoltError(
        "HOLT_E_STATE",
        `Cannot open the journal ${path}: ${(error as Error).message}.`,
        { cause: error },
      );
    }
  }

  /** Marks applies left "running" by a crash as interrupted. */
  markInterrupted(): void {
    this.#db.prepare("UPDATE applies SET status = 'interrupted' WHERE status = 'running'").run();
  }

  begin(entry: {
    command: string;
    user: string;
    host: string;
    summary: PlanSummary;
    at: string;
  }): number {
    const result = this.#db
      .prepare(
        "INSERT INTO applies (started_at, status, command, user, host, summary) VALUES (?, 'running', ?, ?, ?, ?)",
      )
      .run(entry.at, entry.command, entry.user, entry.host, JSON.stringify(entry.summary));
    return Number(result.lastInsertRowid);
  }

  record(applyId: number, event: ApplyEvent): void {
    const address = "address" in event ? event.address : null;
    const action = "action" in event ? event.action : null;
    let detail: string | null = null;
    if (event.kind === "step-failed")
      detail = JSON.stringify({ error: event.error, details: event.details });
    else if (event.kind === "step-skipped") detail = JSON.stringify({ reason: event.reason });
    else if (event.kind === "step-done") detail = JSON.stringify({ ms: event.ms });
    else if (event.kind === "apply-done") {
      detail = JSON.stringify({
        done: event.done,
        failed: event.failed,
        skipped: event.skipped,
        ms: event.ms,
      });
    }
    this.#db
      .prepare(
        "INSERT INTO events (apply_id, seq, at, kind, address, action, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(applyId, event.seq, event.at, event.kind, address, action, detail);
  }

  finish(applyId: number, ok: boolean, at: string): void {
    this.#db
      .prepare("UPDATE applies SET status = ?, finished_at = ? WHERE id = ?")
      .run(ok ? "succeeded" : "failed", at, applyId);
  }

  list(limit = 50): ApplyRecord[] {
    const rows = this.#db.prepare("SELECT * FROM applies ORDER BY id DESC LIMIT ?").all(limit);
    return rows.map(toRecord);
  }

  get(id: number): { apply: ApplyRecord; steps: StepRecord[] } | null {
    const row = this.#db.prepare("SELECT * FROM applies WHERE id = ?").get(id);
    if (row === undefined) return null;
    const steps = this.#db
      .prepare(
        "SELECT seq, at, kind, address, action, detail FROM events WHERE apply_id = ? ORDER BY seq",
      )
      .all(id) as unknown as StepRecord[];
    return { apply: toRecord(row), steps };
  }

  close(): void {
    this.#db.close();
  }
}

function toRecord(row: Record<string, unknown>): ApplyRecord {
  return {
    id: Number(row.id),
    startedAt: String(row.started_at),
    finishedAt: row.finished_at === null ? null : String(row.finished_at),
    status: String(row.status) as ApplyRecord["status"],
    command: String(row.command),
    user: String(row.user),
    host: String(row.host),
    summary: JSON.parse(String(row.summary)) as PlanSummary,
  };
}
