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
import { readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { mkdtemp, open, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { findProgram, pidAlive } from "./process.ts";

const execFileAsync = promisify(execFile);

// A zpool or zfs command that takes this long is not coming back: zfs-fuse is stuck.
const STUCK_MS = 30_000;
const NO_ANSWER = `no answer within ${STUCK_MS / 1000} s`;

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
    const { stdout, stderr } = await execFileAsync(program(name), args, { timeout: STUCK_MS });
    return { ok: true, stdout, stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string; killed?: boolean };
    if (e.killed === true) return { ok: false, stdout: "", stderr: NO_ANSWER };
    return { ok: false, stdout: e.stdout ?? "", stderr: e.stderr || e.message };
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

/** Whether zfs-fuse is installed here and this process may manage it (root). */
export function zfsFuseInstalled(): boolean {
  return process.getuid?.() === 0 && findProgram("zfs-fuse", SBIN_DIRS) !== undefined;
}

/** The path of a zfs tool (they live in sbin, which non-root PATHs lack). */
export function zfsProgram(name: "zpool" | "zfs"): string {
  return program(name);
}

let ready: Promise<void> | undefined;

/** Makes the next ensureZfsFuse() check again, e.g. after the daemon was killed. */
export function forgetZfsFuseReady(): void {
  ready = undefined;
}

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

// zfs-fuse answers "busy" while any process, anywhere on the machine, is entering a new mount
// namespace (a container starting), and for a moment after a pool was used: retry for a while.
// Never `zpool destroy -f`: while a process still has a file or its working directory on the
// pool, -f detaches the mounts, and zfs-fuse can then call the pool busy until it is restarted,
// long after that process is gone (seen once in four tries). Without -f the destroy fails and
// leaves the mounts (so describeHolders() can still see who uses them), and a later try
// succeeds once they are free.
const DESTROY_PATIENCE_MS = 30_000;
const DESTROY_DELAY_MS = 500;

function gone(stderr: string): boolean {
  return /no such pool/i.test(stderr);
}

/** A /proc (or any) file's text; "" when it is gone or not ours to read. */
export function readProc(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function linkOr(file: string): string {
  try {
    return readlinkSync(file);
  } catch {
    return "";
  }
}

interface ZfsMount {
  /** The mount's id, as mountinfo and /proc/PID/fdinfo give it. */
  readonly id: number;
  readonly point: string;
}

/** A pool's (or dataset's) zfs-fuse mounts in one mountinfo: type fuse.zfs, source the dataset. */
function zfsMounts(mountinfo: string, pool: string): ZfsMount[] {
  const mounts: ZfsMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    const [type, source] = after?.split(" ") ?? [];
    const fields = before?.split(" ") ?? [];
    const point = fields[4];
    if (type !== "fuse.zfs" || point === undefined || source === undefined) continue;
    if (source === pool || source.startsWith(`${pool}/`))
      mounts.push({ id: Number(fields[0]), point });
  }
  return mounts;
}

/** One process as /proc shows it. */
export interface ProcEntry {
  readonly pid: string;
  /** `/proc/PID`. */
  readonly dir: string;
  /** Its command name (comm). */
  readonly comm: string;
  /** "pid N (comm)", for messages. */
  readonly who: string;
  /** Its state letter: R, S, D, … */
  readonly state: string;
}

/** Every process but this one. */
export function processes(): ProcEntry[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .map((pid) => {
      const dir = `/proc/${pid}`;
      const stat = readProc(`${dir}/stat`);
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const state = stat.slice(close + 2, close + 3);
      return { pid, dir, comm, who: `pid ${pid} (${comm})`, state };
    });
}

/**
 * The kernel wait channel of a process waiting for a FUSE daemon's answer (interruptible at
 * first, so in S state as often as in D), else undefined. zfs-fuse's own threads wait in fuse
 * too, for the next request: they do not count.
 */
export function fuseWaitOf(proc: ProcEntry): string | undefined {
  if (proc.comm === "zfs-fuse") return undefined;
  const wchan = readProc(`${proc.dir}/wchan`);
  return /request_wait_answer|fuse_get_req|fuse_wait_on/.test(wchan) ? wchan : undefined;
}

/**
 * What on this machine may keep a pool busy, read from /proc, for the error that says it could
 * not be destroyed (without -f, its mounts are still there): processes with the pool's mounts in
 * another mount namespace, with their working directory, root or an open file on it, or waiting
 * on zfs-fuse or uninterruptibly (a zfs-fuse that stopped answering leaves its callers there).
 * `pool` may be a dataset: then it and its children count. Reads links and /proc text only:
 * stat() on a file of a stuck zfs-fuse would never return.
 */
export function describeHolders(pool: string): string {
  const mounts = zfsMounts(readProc("/proc/self/mountinfo"), pool);
  const ids = new Set(mounts.map((mount) => mount.id));
  const points = [`/${pool}`, ...mounts.map((mount) => mount.point)];
  const below = (target: string) =>
    points.some((point) => target === point || target.startsWith(`${point}/`));
  const ownNamespace = linkOr("/proc/self/ns/mnt");
  const found: string[] = [];
  for (const proc of processes()) {
    const { dir, who } = proc;
    const namespace = linkOr(`${dir}/ns/mnt`);
    if (namespace !== "" && namespace !== ownNamespace) {
      const held = zfsMounts(readProc(`${dir}/mountinfo`), pool).map((mount) => mount.point);
      if (held.length > 0) {
        found.push(`${who} has ${held.join(", ")} in mount namespace ${namespace}`);
      }
    }
    const place = [linkOr(`${dir}/cwd`), linkOr(`${dir}/root`)].find(below);
    if (place !== undefined) found.push(`${who} works in ${place}`);
    let fds: string[] = [];
    try {
      fds = readdirSync(`${dir}/fd`);
    } catch {
      // gone, or not ours to read
    }
    const open = fds.filter((fd) => {
      const mount = /^mnt_id:\s*(\d+)$/m.exec(readProc(`${dir}/fdinfo/${fd}`))?.[1];
      return mount !== undefined && ids.has(Number(mount));
    });
    if (open.length > 0) {
      const names = open.slice(0, 3).map((fd) => linkOr(`${dir}/fd/${fd}`));
      found.push(`${who} has open ${names.join(", ")}`);
    }
    const fuseWait = fuseWaitOf(proc);
    if (fuseWait !== undefined || proc.state === "D") {
      found.push(`${who} waits in ${fuseWait ?? (readProc(`${dir}/wchan`) || "?")}`);
    }
  }
  return found.length > 0 ? found.join("; ") : "no process holds it that /proc shows";
}

async function destroyPool(name: string): Promise<void> {
  const deadline = Date.now() + DESTROY_PATIENCE_MS;
  for (;;) {
    const result = await tryRun("zpool", ["destroy", name]);
    if (result.ok || gone(result.stderr)) return;
    const last = result.stderr.trim();
    if (last === NO_ANSWER || Date.now() > deadline) {
      throw new Error(`zpool destroy ${name} kept failing: ${last}; ${describeHolders(name)}`);
    }
    await sleep(DESTROY_DELAY_MS);
  }
}

function destroyPoolSync(name: string): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + DESTROY_PATIENCE_MS;
  let last = "";
  while (Date.now() <= deadline) {
    try {
      execFileSync(program("zpool"), ["destroy", name], { stdio: "pipe", timeout: STUCK_MS });
      return;
    } catch (error) {
      const e = error as { stderr?: unknown; code?: string; signal?: string };
      last = String(e.stderr ?? "").trim();
      if (gone(last)) return;
      if (e.code === "ETIMEDOUT" || e.signal === "SIGTERM") {
        last = NO_ANSWER;
        break;
      }
      Atomics.wait(pause, 0, 0, DESTROY_DELAY_MS);
    }
  }
  console.error(
    `test/peers/zfs: could not destroy pool ${name} (${last}; ${describeHolders(name)}); ` +
      "cleanupStalePools() will",
  );
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
    return Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid);
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
