/**
 * The journal and the backup catalog, and their SQLite -wal and -shm files,
 * are mode 0600 with real SQLite (node:sqlite), also when they existed with
 * a looser mode; the lab's state folder is 0700.
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { isHoltError } from "../errors.ts";
import { BackupCatalog } from "./backup-catalog.ts";
import { Journal } from "./journal.ts";
import { labStateDir } from "./state-dir.ts";

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

function withDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "holt-private-"));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SUMMARY = { add: 1, change: 0, replace: 0, destroy: 0, release: 0 };

const OPENERS = [
  {
    name: "journal",
    file: "journal.db",
    open: (dir: string) => {
      const journal = new Journal(dir);
      journal.begin({ command: "holt apply", user: "u", host: "h", summary: SUMMARY, at: "now" });
      return () => journal.close();
    },
  },
  {
    name: "backup catalog",
    file: "backups.db",
    open: (dir: string) => {
      const catalog = new BackupCatalog(dir);
      catalog.saveManifest("box:tank/a", "holt-1", "[]");
      return () => catalog.close();
    },
  },
] as const;

for (const { name, file, open } of OPENERS) {
  test(`${name}: a new database and its -wal and -shm files are 0600 (umask 022)`, () => {
    withDir((dir) => {
      const umask = process.umask(0o022);
      try {
        const close = open(dir);
        const db = join(dir, file);
        // While it is open, in WAL mode, SQLite keeps both companion files.
        assert.ok(existsSync(`${db}-wal`) && existsSync(`${db}-shm`), "WAL files exist");
        assert.deepEqual([mode(db), mode(`${db}-wal`), mode(`${db}-shm`)], ["600", "600", "600"]);
        close();
        assert.equal(mode(db), "600");
      } finally {
        process.umask(umask);
      }
    });
  });

  test(`${name}: an existing 0644 database with 0644 -wal and -shm files is tightened`, () => {
    withDir((dir) => {
      const db = join(dir, file);
      // An older holt's files: made by SQLite's defaults, and still open elsewhere (so the
      // -wal holds data and is not recreated).
      const old = new DatabaseSync(db);
      old.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);");
      for (const f of [db, `${db}-wal`, `${db}-shm`]) chmodSync(f, 0o644);
      assert.ok(statSync(`${db}-wal`).size > 0, "the -wal holds data");
      try {
        const close = open(dir);
        assert.deepEqual([mode(db), mode(`${db}-wal`), mode(`${db}-shm`)], ["600", "600", "600"]);
        close();
      } finally {
        old.close();
      }
    });
  });

  test(`${name}: a symbolic link in place of the database is refused`, () => {
    withDir((dir) => {
      const target = join(dir, "elsewhere.db");
      writeFileSync(target, "");
      chmodSync(target, 0o644);
      symlinkSync(target, join(dir, file));
      assert.throws(
        () => open(dir),
        (error) => isHoltError(error) && error.code === "HOLT_E_STATE",
      );
      assert.equal(mode(target), "644", "the link's target is left alone");
    });
  });
}

test("the lab's state folder is 0700, and an existing 0755 one is tightened", () => {
  withDir((root) => {
    const made = labStateDir(root, "home.example.net");
    assert.equal(mode(made), "700");
    const loose = join(root, "other");
    mkdirSync(loose, { mode: 0o755 });
    chmodSync(loose, 0o755);
    assert.equal(labStateDir(root, "other"), loose);
    assert.equal(mode(loose), "700");
  });
});
