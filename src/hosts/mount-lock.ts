/**
 * One mount at a time per host, for commands that mount a new ZFS file system (`zfs create`,
 * `zfs clone`).
 *
 * zfs-fuse can lose a file system mounted while another one mounts: it hands each new mount to
 * its listener threads over a pipe in two writes, two mounts at once can interleave them, and a
 * listener then waits forever for bytes that never come, holding the lock every other listener
 * needs, so every file system of the daemon stops answering. holt creates datasets and clones
 * several at once (apply, backups), which made that happen now and then on zfs-fuse. A mount
 * takes tens of milliseconds; OpenZFS loses little by the wait.
 */
import type { Exec } from "./exec.ts";

const mounting = new Map<string, Promise<unknown>>();

/** Runs `mount` once the mounts before it on the same host (by `exec.target`) have finished. */
export async function oneMountAtATime<T>(exec: Exec, mount: () => Promise<T>): Promise<T> {
  const before = mounting.get(exec.target) ?? Promise.resolve();
  const mine = before.then(mount, mount);
  const settled = mine.catch(() => undefined);
  mounting.set(exec.target, settled);
  try {
    return await mine;
  } finally {
    if (mounting.get(exec.target) === settled) mounting.delete(exec.target);
  }
}
