/**
 * A watchdog for the zfs-fuse daemon, for the test runner (scripts/test.ts).
 *
 *   const watch = watchZfsFuse((reason) => ...);   // called once per stall
 *   ...
 *   watch.stop();
 *
 * zfs-fuse (0.7, the test stand-in for the kernel's OpenZFS) now and then deadlocks under
 * concurrent load: its threads sit in futex waits, every process touching one of its file
 * systems waits in D state, and `zpool`/`zfs` commands never return. Nothing in a test run can
 * go on after that; without a watchdog the run waits out every 5 minute test timeout until its
 * deadline. A stall is either of:
 * - for 60 s, some process waited on a FUSE request while the daemon read and wrote nothing
 *   (its read and write system call counts in /proc/PID/io did not move, but for the watch's own
 *   `zfs list`, which a daemon deadlocked on FUSE still answers);
 * - `zfs list` (every dataset of every pool) did not answer within 60 s.
 * It can also die (once in a CI run: "zfsfuse_ioctl_read_loop(): file descriptor closed", then
 * "connect: Connection refused" for every command). A daemon seen running that is gone for two
 * samples, or replaced by another one (a test's ensureZfsFuse() started it again), is handled
 * like a stall, so the files that failed meanwhile run again.
 * `restartZfsFuse()` then kills the daemon (the waiting calls fail with ECONNABORTED), detaches
 * its mounts and starts it again. Its pools come back only if zfs-fuse had written them to its
 * cache; either way the tests that used them fail, and the runner runs their files again.
 *
 * Test infrastructure: holt never runs this.
 */
import { execFile, spawnSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ensureZfsFuse,
  forgetZfsFuseReady,
  fuseWaitOf,
  processes,
  readProc,
  zfsProgram,
} from "./zfs.ts";

const SAMPLE_MS = 2_000;
const STALL_MS = 60_000;
const PROBE_EVERY_MS = 15_000;

/** The pid of the zfs-fuse daemon, or undefined when none runs. */
function daemonPid(): number | undefined {
  const daemon = processes().find((proc) => proc.comm === "zfs-fuse");
  return daemon === undefined ? undefined : Number(daemon.pid);
}

/** How many read and write calls the daemon made so far: it makes both for every FUSE request. */
function daemonCalls(pid: number): number | undefined {
  const io = readProc(`/proc/${pid}/io`);
  if (io === "") return undefined;
  const count = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, "m").exec(io)?.[1] ?? 0);
  return count("syscr") + count("syscw");
}

/** Processes waiting on a FUSE request, and where. */
export function fuseWaiters(): string[] {
  return processes().flatMap((proc) => {
    const wait = fuseWaitOf(proc);
    return wait === undefined ? [] : [`${proc.who} in ${wait}`];
  });
}

export interface ZfsFuseWatch {
  stop(): void;
}

/** What the watch reads; the real ones read /proc and run `zfs list`. */
export interface ZfsFuseProbes {
  /** The daemon's pid, undefined when none runs. */
  daemon(): number | undefined;
  /** The daemon's read+write call count; null when no daemon runs, undefined when unreadable. */
  calls(): number | null | undefined;
  /** Processes waiting on a FUSE request. */
  waiters(): string[];
  /** Resolves false when `zfs list` did not answer within `timeoutMs`. */
  listAnswers(timeoutMs: number): Promise<boolean>;
}

export interface ZfsFuseWatchTiming {
  sampleMs: number;
  stallMs: number;
  probeEveryMs: number;
}

const realProbes: ZfsFuseProbes = {
  daemon: daemonPid,
  calls() {
    const pid = daemonPid();
    return pid === undefined ? null : daemonCalls(pid);
  },
  waiters: fuseWaiters,
  listAnswers(timeoutMs) {
    return new Promise((resolve) => {
      execFile(zfsProgram("zfs"), ["list", "-H", "-o", "name"], { timeout: timeoutMs }, (error) =>
        resolve((error as { killed?: boolean } | null)?.killed !== true),
      );
    });
  },
};

/**
 * Samples the daemon every 2 s and calls `onStall` with what it saw when it stalled. The
 * caller restarts the daemon; the watch starts over once `onStall`'s promise settles. Needs
 * root, to read the daemon's /proc/PID/io.
 */
export function watchZfsFuse(
  onStall: (reason: string) => Promise<void>,
  probes: ZfsFuseProbes = realProbes,
  timing: ZfsFuseWatchTiming = {
    sampleMs: SAMPLE_MS,
    stallMs: STALL_MS,
    probeEveryMs: PROBE_EVERY_MS,
  },
): ZfsFuseWatch {
  let stopped = false;
  let handling = false;
  let lastCalls: number | undefined;
  let quietSince: number | undefined;
  let probing = false;
  let lastProbe = Date.now();
  // The daemon last seen, and for how many samples since it has been gone.
  let lastDaemon: number | undefined;
  let goneFor = 0;
  // Set while a `zfs list` probe runs and when it ends: a daemon stuck on FUSE can still answer
  // it, and the calls that costs are the probe's, not a sign that the daemon works.
  let probeTouched = false;

  const stall = (reason: string) => {
    if (handling || stopped) return;
    handling = true;
    void onStall(reason).finally(() => {
      handling = false;
      lastCalls = undefined;
      quietSince = undefined;
      lastProbe = Date.now();
      lastDaemon = undefined;
      goneFor = 0;
    });
  };

  /** Whether the daemon seen before died; reports it (once) when it did. */
  const died = (): boolean => {
    const daemon = probes.daemon();
    if (daemon === undefined) {
      if (lastDaemon !== undefined && ++goneFor >= 2) {
        stall(`its daemon (pid ${lastDaemon}) exited`);
        return true;
      }
      return false;
    }
    if (lastDaemon !== undefined && daemon !== lastDaemon) {
      stall(`its daemon (pid ${lastDaemon}) exited and another (pid ${daemon}) was started`);
      return true;
    }
    lastDaemon = daemon;
    goneFor = 0;
    return false;
  };

  const probe = () => {
    probing = true;
    probeTouched = true;
    const callsBefore = probes.calls();
    void probes.listAnswers(timing.stallMs).then((answered) => {
      probing = false;
      probeTouched = true;
      // A daemon that kept reading and writing is busy (a long receive), not stuck.
      if (!answered && probes.calls() === callsBefore) {
        stall(`\`zfs list\` did not answer within ${timing.stallMs / 1000} s`);
      }
    });
  };

  const sample = () => {
    if (handling || stopped || died()) return;
    const calls = probes.calls();
    if (calls === null) {
      quietSince = undefined;
      return;
    }
    if (!probing && Date.now() - lastProbe >= timing.probeEveryMs) {
      lastProbe = Date.now();
      probe();
    }
    const waiters = probes.waiters();
    const moved = calls !== lastCalls;
    const byProbe = probeTouched;
    probeTouched = probing;
    lastCalls = calls;
    if (calls === undefined || waiters.length === 0 || (moved && !byProbe)) {
      quietSince = undefined;
      return;
    }
    quietSince ??= Date.now() - timing.sampleMs;
    if (Date.now() - quietSince >= timing.stallMs) {
      const who = waiters.slice(0, 3).join(", ");
      stall(`for ${timing.stallMs / 1000} s the daemon handled nothing while ${who} waited on it`);
    }
  };

  const timer = setInterval(sample, timing.sampleMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/**
 * Kills zfs-fuse, lazily unmounts its file systems and /zfs-kstat (deepest first) and starts it
 * again; resolves when `zpool list` answers. Pools in zfs-fuse's cache come back imported, others are gone.
 */
export async function restartZfsFuse(): Promise<void> {
  const pid = daemonPid();
  if (pid !== undefined) {
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 100 && daemonPid() !== undefined; i++) await sleep(100);
  }
  const points = readProc("/proc/self/mountinfo")
    .split("\n")
    .filter((line) => /^(fuse\.zfs |fuse kstat )/.test(line.split(" - ")[1] ?? ""))
    .map((line) => line.split(" ")[4] ?? "")
    .filter((point) => point !== "")
    .sort((a, b) => b.split("/").length - a.split("/").length);
  for (const point of points) spawnSync("umount", ["-l", point], { stdio: "ignore" });
  forgetZfsFuseReady();
  await ensureZfsFuse();
}
