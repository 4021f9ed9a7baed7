/**
 * One apply, and one backup operation, at a time per lab: a lock file per
 * kind (`apply.lock`, `backup.lock` in the lab's state folder) holding who
 * has it. A lock left by a dead process on this machine is taken over; any
 * other holder makes the second command fail at once, naming the first.
 *
 * Taking over a dead holder's lock must not let two processes win when
 * several find it at once. Removing it and trying again does: B reads the
 * dead holder H, A removes H and takes the lock, then B removes A's fresh
 * lock, thinking it is H's, and takes it too. So:
 *
 * - A lock file is only ever created whole: the holder's record goes to a
 *   private temporary file, which is then hard-linked to the lock's name.
 *   link() fails when the name exists, so of two creators exactly one wins,
 *   and a reader never sees half a record. Each record carries a random
 *   nonce, so no two records are ever equal.
 * - Invariant: while the lock file holds record H, only two processes may
 *   remove it: H's own (releasing it) and the one that holds H's takeover
 *   lock, `<lock>.takeover-<digest of H>`, which is taken with this same
 *   protocol (so it, too, has one holder, and is taken over in turn when
 *   its holder died), and only after H's process was seen dead.
 * - The takeover's holder reads the lock again and removes it only if it
 *   still holds H; by the invariant nobody else can have changed it in
 *   between. Then it releases the takeover lock and creates the lock like
 *   anyone else (link, which again only one process wins).
 *
 * Every interleaving:
 * - A and B both read dead H. Both try H's takeover lock; one (A) gets it.
 *   B finds it held by a live process and waits; A removes H, releases the
 *   takeover lock and links its own record. B reads the lock again: A
 *   holds it, alive, so B fails naming A. If B's retry came between A's
 *   removal and A's link, B's link wins and A's fails: still one winner.
 * - B read H long ago; A has since taken over and holds the lock. B gets
 *   H's takeover lock (A released it), reads the lock: A, not H. B removes
 *   nothing and fails naming A. (The bug this replaces.)
 * - A dies holding H's takeover lock, before removing H: H's lock and the
 *   takeover lock both name dead processes; B takes over the takeover lock
 *   (one level down, same protocol), then removes H.
 * - A dies after removing H, before releasing the takeover lock: that file
 *   is never consulted again (no lock holds H's nonce any more). It is left
 *   behind, a few bytes, and harmless.
 * - A live holder's release reads its own record and removes it; nobody
 *   else may remove or replace it while it lives (a takeover needs it dead).
 * - A dead holder's pid was reused: it looks alive and stays in place; the
 *   message names it and says to delete the file. Never two winners. Except
 *   after a restart, the likeliest way a holder dies without releasing
 *   (a power cut, a crash): each record names the machine's boot (Linux's
 *   boot_id), and a holder of an earlier boot of this machine is dead
 *   whatever runs under its pid now. The machine is known by its host name
 *   and, where both records have one, its machine-id, so a machine that
 *   shares the state folder under the same host name is not mistaken for
 *   this one restarted.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { HoltError } from "../errors.ts";
import { processIsRunning } from "../util/process-alive.ts";

/** The lab's locks: one for applies (and restores), one for backup operations. */
export type LockKind = "apply" | "backup";

export interface LockHolder {
  readonly host: string;
  readonly pid: number;
  readonly since: string;
  readonly command: string;
  /** A digest of the holder's machine's /etc/machine-id, when it has one. */
  readonly machine?: string;
  /** The holder's machine's boot (/proc/sys/kernel/random/boot_id), when known. */
  readonly boot?: string;
}

/** The machine a process runs on, as a lock record names it. */
export interface Machine {
  readonly host: string;
  readonly machine: string | null;
  readonly boot: string | null;
}

function firstLine(paths: readonly string[]): string | null {
  for (const path of paths) {
    try {
      const text = readFileSync(path, "utf8").trim();
      if (text !== "") return text;
    } catch {
      // Not on this system: the next, or none.
    }
  }
  return null;
}

/**
 * This machine: its host name, machine-id and boot id, each when it has
 * one. The machine-id is kept as a digest of holt's own: systemd asks that
 * it not be shown as it is.
 */
export function thisMachine(): Machine {
  const id = firstLine(["/etc/machine-id", "/var/lib/dbus/machine-id"]);
  return {
    host: hostname(),
    machine:
      id === null
        ? null
        : createHash("sha256").update(`holt lock ${id}`).digest("hex").slice(0, 32),
    boot: firstLine(["/proc/sys/kernel/random/boot_id"]),
  };
}

export interface Lock {
  readonly path: string;
  release(): void;
}

export interface LockOptions {
  /** Called when a dead holder was read, before its takeover; tests widen the race with it. */
  readonly onStale?: (holder: LockHolder) => void;
  /** How long to wait while another live process is taking over a dead holder's lock. @default 2000 */
  readonly waitMs?: number;
}

/** What a lock file's text says about taking it. */
export type HolderVerdict =
  | { readonly kind: "held"; readonly holder: LockHolder | null }
  | { readonly kind: "stale"; readonly holder: LockHolder };

/**
 * Whether the holder a lock file names may be taken over: only when it ran
 * on this machine and its process is gone, or this machine restarted since.
 * A record that cannot be read counts as held (holt never writes one
 * half-way; the user removes it).
 */
export function judgeHolder(
  text: string,
  here: Machine,
  isRunning: (pid: number) => boolean,
): HolderVerdict {
  const holder = parseHolder(text);
  if (holder === null || holder.host !== here.host) return { kind: "held", holder };
  const known = <T>(a: T | null | undefined, b: T | null): a is T => a != null && b !== null;
  if (known(holder.machine, here.machine) && holder.machine !== here.machine) {
    return { kind: "held", holder };
  }
  if (known(holder.boot, here.boot) && holder.boot !== here.boot) {
    return { kind: "stale", holder };
  }
  return isRunning(holder.pid) ? { kind: "held", holder } : { kind: "stale", holder };
}

function parseHolder(text: string): LockHolder | null {
  try {
    const raw = JSON.parse(text) as Partial<LockHolder>;
    if (
      typeof raw.host !== "string" ||
      typeof raw.pid !== "number" ||
      !Number.isInteger(raw.pid) ||
      raw.pid <= 0 ||
      typeof raw.since !== "string" ||
      typeof raw.command !== "string"
    ) {
      return null;
    }
    return {
      host: raw.host,
      pid: raw.pid,
      since: raw.since,
      command: raw.command,
      ...(typeof raw.machine === "string" ? { machine: raw.machine } : {}),
      ...(typeof raw.boot === "string" ? { boot: raw.boot } : {}),
    };
  } catch {
    return null;
  }
}

/** The error for a lock another process holds: who, and what to do. */
export function lockedMessage(kind: LockKind, holder: LockHolder | null, path: string): string {
  const who =
    holder === null
      ? "another holt process"
      : `\`${holder.command}\` (pid ${holder.pid} on ${holder.host}, since ${holder.since})`;
  const what =
    kind === "apply"
      ? "Another apply is running for this lab"
      : "Another backup operation is running for this lab (holt runs one backup, replication, offsite copy, drill or restore of a lab at a time)";
  return `${what}: ${who}. Wait for it to finish. If that process is gone (for example its machine crashed), delete ${path} and run again.`;
}

/** Takeover locks nest at most this deep (each level needs a holt killed inside a takeover). */
const MAX_DEPTH = 6;

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw stateError(path, error);
  }
}

function stateError(path: string, error: unknown): HoltError {
  return new HoltError(
    "HOLT_E_STATE",
    `Cannot use the lock file ${path}: ${(error as Error).message}.`,
    { cause: error },
  );
}

/** Creates `path` holding `text`, whole, unless it exists: true when this call created it. */
function create(path: string, text: string): boolean {
  const temporary = `${path}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fd = openSync(temporary, "wx", 0o600);
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw stateError(path, error);
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // Never created, or already gone.
    }
  }
}

/** Removes `path` when it still holds `text`. */
function removeIf(path: string, text: string): void {
  if (readText(path) !== text) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw stateError(path, error);
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

type Taken =
  | { readonly kind: "taken" }
  | { readonly kind: "held"; readonly holder: LockHolder | null };

/** The protocol in the file's comment, for one lock file; `record` is this process's. */
function take(
  path: string,
  record: string,
  here: Machine,
  depth: number,
  options: LockOptions,
): Taken {
  const deadline = Date.now() + (options.waitMs ?? 2000);
  for (;;) {
    if (create(path, record)) return { kind: "taken" };
    const text = readText(path);
    if (text === null) continue; // Released in between: try again.
    const verdict = judgeHolder(text, here, processIsRunning);
    if (verdict.kind === "held") return verdict;
    options.onStale?.(verdict.holder);
    if (depth >= MAX_DEPTH) return { kind: "held", holder: verdict.holder };
    const digest = createHash("sha256").update(text).digest("hex").slice(0, 16);
    const takeover = `${path}.takeover-${digest}`;
    const got = take(takeover, record, here, depth + 1, options);
    if (got.kind === "held") {
      // Another live process is taking it over: it holds the lock in a moment.
      if (Date.now() > deadline) return got;
      sleep(10);
      continue;
    }
    try {
      removeIf(path, text);
    } finally {
      removeIf(takeover, record);
    }
  }
}

/** Takes the lab's lock of this kind, in the lab's state folder `dir`, or fails naming its holder. */
export function acquireLock(
  dir: string,
  command: string,
  kind: LockKind = "apply",
  options: LockOptions = {},
): Lock {
  const path = join(dir, `${kind}.lock`);
  const here = thisMachine();
  const me = {
    host: here.host,
    pid: process.pid,
    since: new Date().toISOString(),
    command,
    ...(here.machine === null ? {} : { machine: here.machine }),
    ...(here.boot === null ? {} : { boot: here.boot }),
    nonce: randomBytes(8).toString("hex"),
  };
  const record = `${JSON.stringify(me)}\n`;
  const taken = take(path, record, here, 0, options);
  if (taken.kind === "held") {
    throw new HoltError("HOLT_E_LOCKED", lockedMessage(kind, taken.holder, path));
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      removeIf(path, record);
    },
  };
}
