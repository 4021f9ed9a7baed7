/**
 * Real ZFS pools for tests, on zfs-fuse with file-backed vdevs.
 *
 *   await ensureZfsFuse();
 *   const pool = await createTestPool();           // e.g. "holtt12345_1", 256 MB, sparse
 *   t.after(() => pool.destroy());
 *
 * Pool names encode the creating process id (`<prefix><pid>_<counter>`), so parallel test
 * processes never collide and `cleanupStalePools()` can tell leftovers of dead processes
 * from pools still in use. Pools still alive when the process exits (a failing test that
 * never reached its cleanup) are destroyed by an exit handler.
 *
 * Test infrastructure: it calls the zfs tools directly, not through holt's Exec.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, open, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { findProgram } from "./process.ts";

const execFileAsync = promisify(execFile);

export interface TestPool {
  /** The pool name, also its default mountpoint below `/`. */
  readonly name: string;
  /** Absolute path of the sparse file backing the pool. */
  readonly imagePath: string;
  /** Destroys the pool and deletes its image. Safe to call more than once. */
  destroy(): Promise<void>;
}

export interface TestPoolOptions {
  /** Size of the backing file. zfs-fuse needs at least 64 MB. @default 256 */
  readonly sizeMb?: number;
  /** Start of the pool name: a letter, then letters, digits, `_`, `-`, `.`. @default "holtt" */
  readonly prefix?: string;
}

const DEFAULT_PREFIX = "holtt";
const READY_TIMEOUT_MS = 20_000;
const SETUP_HINT = "run `bash scripts/setup.sh` (as root) first";

/** Directories searched for the zfs tools, after PATH: they live in sbin, which non-root PATHs lack. */
const SBIN_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

const programs = new Map<string, string>();

function program(name: "zpool" | "zfs" | "zfs-fuse"): string {
  let found = programs.get(name);
  if (found === undefined) {
    found = findProgram(name, SBIN_DIRS);
    if (found === undefined) {
      throw new Error(`zfs-fuse is not installed: \`${name}\` was not found; ${SETUP_HINT}`);
    }
    programs.set(name, found);
  }
  return found;
}

interface CommandResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

async function tryRun(name: "zpool" | "zfs", args: string[]): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync(program(name), args, { timeout: 60_000 });
    return { ok: true, stdout, stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: e.stdout ?? "", stderr: e.stderr || e.message };
  }
}

function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function zfsFuseRunning(): Promise<boolean> {
  try {
    await execFileAsync("pgrep", ["-x", "zfs-fuse"]);
    return true;
  } catch {
    return false;
  }
}

/** Starts zfs-fuse, which daemonizes; resolves when the launcher process has exited. */
function startDaemon(): Promise<void> {
  return new Promise((resolve) => {
    // No pipes to the daemon: it would keep them open forever. Failures (e.g. another
    // process started it first) show up as `zpool list` not answering.
    const child = spawn(program("zfs-fuse"), [], { stdio: "ignore", detached: true });
    child.on("error", () => resolve());
    child.on("exit", () => resolve());
    child.unref();
  });
}

let ready: Promise<void> | undefined;

/**
 * Makes sure the zfs-fuse daemon runs and answers `zpool list`, starting it if needed.
 * Throws a clear error when zfs-fuse is not installed or does not come up within 20 s.
 */
export function ensureZfsFuse(): Promise<void> {
  if (ready === undefined) {
    const attempt = waitForZfsFuse();
    ready = attempt;
    // Let a later call retry after a failure.
    attempt.catch(() => {
      if (ready === attempt) ready = undefined;
    });
  }
  return ready;
}

async function waitForZfsFuse(): Promise<void> {
  program("zfs-fuse");
  program("zpool");
  program("zfs");
  if ((await tryRun("zpool", ["list"])).ok) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`zfs-fuse is not answering and only root can start it; ${SETUP_HINT}`);
  }
  if (!(await zfsFuseRunning())) await startDaemon();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = await tryRun("zpool", ["list"]);
  while (!last.ok) {
    if (Date.now() > deadline) {
      throw new Error(
        `zfs-fuse did not answer \`zpool list\` within ${READY_TIMEOUT_MS / 1000} s: ` +
          `${last.stderr.trim()}; ${SETUP_HINT}`,
      );
    }
    await sleep(200);
    last = await tryRun("zpool", ["list"]);
  }
}

/** Pool names on this machine, as `zpool list -H -o name` prints them. */
export async function listPools(): Promise<string[]> {
  const result = await tryRun("zpool", ["list", "-H", "-o", "name"]);
  if (!result.ok) throw new Error(`zpool list failed: ${result.stderr.trim()}`);
  return result.stdout.split("\n").filter((line) => line.length > 0);
}

// zfs-fuse can answer "busy" for a short while after a pool was used: retry.
const DESTROY_ATTEMPTS = 8;
const DESTROY_DELAY_MS = 500;

function gone(stderr: string): boolean {
  return /no such pool/i.test(stderr);
}

async function destroyPool(name: string): Promise<void> {
  let last = "";
  for (let attempt = 1; attempt <= DESTROY_ATTEMPTS; attempt++) {
    const result = await tryRun("zpool", ["destroy", "-f", name]);
    if (result.ok || gone(result.stderr)) return;
    last = result.stderr.trim();
    await sleep(DESTROY_DELAY_MS);
  }
  throw new Error(`zpool destroy -f ${name} kept failing: ${last}`);
}

function destroyPoolSync(name: string): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 1; attempt <= DESTROY_ATTEMPTS; attempt++) {
    try {
      execFileSync(program("zpool"), ["destroy", "-f", name], { stdio: "pipe", timeout: 60_000 });
      return;
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? "");
      if (gone(stderr)) return;
      Atomics.wait(pause, 0, 0, DESTROY_DELAY_MS);
    }
  }
  console.error(`test/peers/zfs: could not destroy pool ${name}; cleanupStalePools() will`);
}

/** Pools created by this process and not destroyed yet: name → temporary directory. */
const alive = new Map<string, string>();
let counter = 0;
let exitHooked = false;
let staleChecked = false;

function cleanupOnExit(): void {
  for (const [name, dir] of alive) {
    destroyPoolSync(name);
    rmSync(dir, { recursive: true, force: true });
  }
  alive.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", cleanupOnExit);
  // 'exit' does not run when a signal kills the process: clean up, then die of the signal.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      cleanupOnExit();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

const NAME_PREFIX = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/**
 * Creates a pool on a new sparse file in a fresh temporary directory. The name is unique
 * across processes: `<prefix><pid>_<n>`. Starts zfs-fuse when needed.
 */
export async function createTestPool(options: TestPoolOptions = {}): Promise<TestPool> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const sizeMb = options.sizeMb ?? 256;
  if (!NAME_PREFIX.test(prefix)) {
    throw new Error(`pool prefix ${JSON.stringify(prefix)}: use a letter, then [A-Za-z0-9_.-]`);
  }
  if (!Number.isInteger(sizeMb) || sizeMb < 64) {
    throw new Error(`pool size ${sizeMb} MB: use a whole number of at least 64 (zfs-fuse minimum)`);
  }
  await ensureZfsFuse();
  if (!staleChecked) {
    staleChecked = true;
    await cleanupStalePools(prefix).catch(() => {});
  }

  counter += 1;
  const name = `${prefix}${process.pid}_${counter}`;
  const dir = await mkdtemp(path.join(path.resolve(os.tmpdir()), `${name}-`));
  const imagePath = path.join(dir, "pool.img");
  const file = await open(imagePath, "w");
  try {
    await file.truncate(sizeMb * 1024 * 1024);
  } finally {
    await file.close();
  }

  hookExit();
  alive.set(name, dir);
  const created = await tryRun("zpool", ["create", "-f", name, imagePath]);
  if (!created.ok) {
    alive.delete(name);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`zpool create -f ${name} ${imagePath} failed: ${created.stderr.trim()}`);
  }

  let destroyed: Promise<void> | undefined;
  return {
    name,
    imagePath,
    destroy() {
      destroyed ??= (async () => {
        await destroyPool(name);
        alive.delete(name);
        await rm(dir, { recursive: true, force: true });
      })();
      return destroyed;
    },
  };
}

/**
 * Destroys pools named `<prefix><pid>_<n>` whose creating process is gone: leftovers of test
 * processes that were killed before they could clean up. Also deletes those processes'
 * image directories. Returns the names of the pools destroyed.
 */
export async function cleanupStalePools(prefix: string = DEFAULT_PREFIX): Promise<string[]> {
  await ensureZfsFuse();
  const pattern = new RegExp(`^(${prefix.replace(/[.]/g, "\\.")}(\\d+)_\\d+)(-|$)`);
  const deadOwner = (name: string): boolean => {
    const pid = Number(pattern.exec(name)?.[2] ?? Number.NaN);
    return Number.isInteger(pid) && pid !== process.pid && !isProcessRunning(pid);
  };
  const pools = await listPools();
  const stale = pools.filter((name) => pattern.exec(name)?.[0] === name && deadOwner(name));
  for (const name of stale) await destroyPool(name);

  const tmp = path.resolve(os.tmpdir());
  for (const entry of await readdir(tmp).catch(() => [] as string[])) {
    const match = pattern.exec(entry);
    if (match?.[3] !== "-" || !deadOwner(entry)) continue;
    const pool = match[1] ?? "";
    if (pools.includes(pool) && !stale.includes(pool)) continue; // still imported: leave it
    await rm(path.join(tmp, entry), { recursive: true, force: true });
  }
  return stale;
}
