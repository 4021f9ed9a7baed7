import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { HoltError } from "../errors.ts";
import {
  acquireLock,
  judgeHolder,
  type LockHolder,
  lockedMessage,
  type Machine,
  thisMachine,
} from "./lock.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function folder(): string {
  const d = mkdtempSync(join(tmpdir(), "holt-lock-"));
  dirs.push(d);
  return d;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const pid = spawnSync("true").pid;
  assert.ok(pid !== undefined && pid > 0);
  return pid;
}

function record(pid: number, command: string, host = hostname()): string {
  return `${JSON.stringify({ host, pid, since: "2026-01-01T00:00:00.000Z", command, nonce: String(pid) })}\n`;
}

function lockedBy(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_LOCKED");
    return error.message;
  }
  assert.fail("expected HOLT_E_LOCKED");
}

describe("judgeHolder", () => {
  const alive = new Set([100]);
  const isRunning = (pid: number) => alive.has(pid);
  const here: Machine = { host: "here", machine: "m1", boot: "b2" };
  const unknown: Machine = { host: "here", machine: null, boot: null };
  const holder = (over: Partial<LockHolder>): string =>
    JSON.stringify({ host: "here", pid: 100, since: "t", command: "holt apply", ...over });
  const cases: [string, string, Machine, string][] = [
    ["a live holder on this machine", holder({}), here, "held"],
    ["a dead holder on this machine", holder({ pid: 200 }), here, "stale"],
    [
      "a holder on another machine, whatever its pid",
      holder({ host: "there", pid: 200 }),
      here,
      "held",
    ],
    ["a record that is not JSON", "{half", here, "held"],
    ["an empty file", "", here, "held"],
    [
      "a record without a pid",
      JSON.stringify({ host: "here", since: "t", command: "x" }),
      here,
      "held",
    ],
    ["a pid that is not a process id", holder({ pid: -1 }), here, "held"],
    ["this machine, this boot, alive", holder({ machine: "m1", boot: "b2" }), here, "held"],
    [
      "this machine, this boot, dead",
      holder({ pid: 200, machine: "m1", boot: "b2" }),
      here,
      "stale",
    ],
    [
      "an earlier boot of this machine, though its pid runs something now",
      holder({ machine: "m1", boot: "b1" }),
      here,
      "stale",
    ],
    [
      "an earlier boot, the record from before machine ids were kept",
      holder({ boot: "b1" }),
      here,
      "stale",
    ],
    [
      "another machine under the same host name, its pid free here",
      holder({ pid: 200, machine: "m9", boot: "b9" }),
      here,
      "held",
    ],
    [
      "another machine under the same host name, of another boot",
      holder({ machine: "m9", boot: "b1" }),
      here,
      "held",
    ],
    [
      "no boot id known here: the pid decides",
      holder({ machine: "m1", boot: "b1" }),
      unknown,
      "held",
    ],
    ["a record without a boot: the pid decides", holder({ machine: "m1" }), here, "held"],
  ];
  for (const [name, text, machine, verdict] of cases) {
    test(name, () => assert.equal(judgeHolder(text, machine, isRunning).kind, verdict));
  }
});

describe("lockedMessage", () => {
  const h = { host: "box", pid: 42, since: "2026-01-01T00:00:00Z", command: "holt backup run" };
  test("names the holder's command, pid, machine and start, and the file to delete", () => {
    const m = lockedMessage("backup", h, "/s/backup.lock");
    assert.match(m, /Another backup operation is running for this lab/);
    assert.match(m, /`holt backup run` \(pid 42 on box, since 2026-01-01T00:00:00Z\)/);
    assert.match(m, /delete \/s\/backup\.lock/);
  });
  test("an apply lock says apply; an unreadable holder is another holt process", () => {
    assert.match(lockedMessage("apply", null, "/s/apply.lock"), /^Another apply .*another holt/);
  });
});

describe("acquireLock", () => {
  test("a second take fails naming the first; release frees it; apply and backup are separate", () => {
    const dir = folder();
    const first = acquireLock(dir, "holt apply --yes");
    assert.match(
      lockedBy(() => acquireLock(dir, "holt apply")),
      new RegExp(`pid ${process.pid}`),
    );
    const backup = acquireLock(dir, "holt backup run", "backup");
    assert.match(
      lockedBy(() => acquireLock(dir, "holt restore x", "backup")),
      /`holt backup run`/,
    );
    first.release();
    first.release();
    backup.release();
    acquireLock(dir, "holt apply").release();
    assert.deepEqual(readdirSync(dir), [], "nothing left behind");
  });

  test("the lock file is 0600 and holds the holder whole", () => {
    const dir = folder();
    const lock = acquireLock(dir, "holt backup verify", "backup");
    const text = readFileSync(lock.path, "utf8");
    assert.equal(statSync(lock.path).mode & 0o777, 0o600);
    const holder = JSON.parse(text) as LockHolder;
    assert.equal(holder.pid, process.pid);
    assert.equal(holder.command, "holt backup verify");
    lock.release();
  });

  test("a dead holder's lock is taken over", () => {
    const dir = folder();
    writeFileSync(join(dir, "backup.lock"), record(deadPid(), "holt backup run"));
    const lock = acquireLock(dir, "holt backup offsite", "backup");
    assert.equal((JSON.parse(readFileSync(lock.path, "utf8")) as LockHolder).pid, process.pid);
    lock.release();
    assert.deepEqual(readdirSync(dir), []);
  });

  test("a lock from before this machine restarted is taken over, though its pid runs again", () => {
    // A power cut during a backup: after the restart the old pid belongs to another process.
    const here = thisMachine();
    assert.ok(here.boot !== null, "Linux names its boot");
    const dir = folder();
    const path = join(dir, "backup.lock");
    const before = {
      host: here.host,
      pid: process.ppid,
      since: "2026-01-01T00:00:00.000Z",
      command: "holt backup run",
      ...(here.machine === null ? {} : { machine: here.machine }),
      boot: "00000000-0000-0000-0000-000000000000",
    };
    writeFileSync(path, `${JSON.stringify(before)}\n`);
    const lock = acquireLock(dir, "holt backup run", "backup");
    const now = JSON.parse(readFileSync(path, "utf8")) as LockHolder;
    assert.deepEqual([now.pid, now.boot], [process.pid, here.boot]);
    lock.release();
    // The same record of this boot is a live holder.
    writeFileSync(path, `${JSON.stringify({ ...before, boot: here.boot })}\n`);
    assert.match(
      lockedBy(() => acquireLock(dir, "holt backup run", "backup")),
      new RegExp(`pid ${process.ppid}`),
    );
  });

  test("a lock on another machine is never taken over, even when its pid is free here", () => {
    const dir = folder();
    writeFileSync(join(dir, "apply.lock"), record(deadPid(), "holt apply", "elsewhere"));
    assert.match(
      lockedBy(() => acquireLock(dir, "holt apply")),
      /on elsewhere/,
    );
  });

  test("the holder this process read as dead was replaced before the takeover: the new one stays", () => {
    // The race the takeover lock closes: between reading the dead holder and removing it,
    // another process took the lock over. The late one must not remove that one's lock.
    const dir = folder();
    const path = join(dir, "backup.lock");
    writeFileSync(path, record(deadPid(), "holt backup run"));
    const live = record(process.ppid, "holt backup verify");
    const message = lockedBy(() =>
      acquireLock(dir, "holt backup run", "backup", {
        onStale: () => {
          rmSync(path);
          writeFileSync(path, live);
        },
      }),
    );
    assert.match(message, new RegExp(`pid ${process.ppid}`));
    assert.equal(readFileSync(path, "utf8"), live, "the live holder's lock is untouched");
  });

  test("a takeover left half-done by a killed process is taken over in turn", () => {
    const dir = folder();
    const path = join(dir, "apply.lock");
    const stale = record(deadPid(), "holt apply");
    writeFileSync(path, stale);
    writeFileSync(takeoverOf(path, stale), record(deadPid(), "holt apply --yes"));
    const lock = acquireLock(dir, "holt apply");
    assert.equal((JSON.parse(readFileSync(path, "utf8")) as LockHolder).pid, process.pid);
    assert.deepEqual(readdirSync(dir), ["apply.lock"], "both dead records are gone");
    lock.release();
  });

  test("a takeover a live process is doing is waited for, then named", () => {
    const dir = folder();
    const path = join(dir, "apply.lock");
    const stale = record(deadPid(), "holt apply");
    writeFileSync(path, stale);
    writeFileSync(takeoverOf(path, stale), record(process.ppid, "holt apply --yes"));
    const started = Date.now();
    const message = lockedBy(() => acquireLock(dir, "holt apply", "apply", { waitMs: 100 }));
    assert.ok(Date.now() - started >= 100, "it waited");
    assert.match(message, /`holt apply --yes` \(pid \d+/);
    assert.equal(readFileSync(path, "utf8"), stale, "nothing was removed");
  });
});

function takeoverOf(path: string, text: string): string {
  return `${path}.takeover-${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
}
