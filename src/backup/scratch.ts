/**
 * holt's scratch datasets: read-only clones of a snapshot for reading it
 * (zfs-fuse has no `.zfs/snapshot`), and datasets a restore or a drill
 * fills before anything live is touched. They live under `<pool>/holt-*`
 * parents that are never mounted themselves, hold nothing of their own, and
 * a leftover from a killed run is replaced by the next one.
 */
import { HoltError } from "../errors.ts";
import type { Exec } from "../hosts/exec.ts";
import { oneMountAtATime } from "../hosts/mount-lock.ts";
import { runChecked, runRetrying } from "../hosts/run-checked.ts";

/** `<pool>/<area>/<lab>-<service>-<entry>`: one name per purpose and dataset. */
export function scratchName(
  dataset: string,
  area: "holt-offsite" | "holt-restore" | "holt-manifest" | "holt-verify",
  lab: string,
  service: string,
  entry: string,
): string {
  return `${dataset.split("/")[0]}/${area}/${lab}-${service}-${entry}`;
}

/** Where a scratch dataset of this purpose is mounted. */
export function scratchPath(
  area: "offsite" | "restore" | "manifest" | "verify",
  lab: string,
  service: string,
  entry: string,
): string {
  return `/var/lib/holt/${area}/${lab}/${service}/${entry}`;
}

async function ensureParent(exec: Exec, name: string): Promise<void> {
  const parent = name.slice(0, name.lastIndexOf("/"));
  const has = await exec.run({ argv: ["zfs", "list", "-H", "-o", "name", parent] });
  if (has.code === 0) return;
  const made = await exec.run({
    argv: ["zfs", "create", "-o", "canmount=off", "-o", "mountpoint=none", parent],
  });
  // Services are backed up at once: another may have made it since.
  if (made.code === 0 || /already exists/.test(made.stderr)) return;
  throw new HoltError(
    "HOLT_E_ZFS",
    `Could not create ${parent} for holt's scratch datasets on ${exec.target}: ${made.stderr.trim()}`,
  );
}

/** Makes room for a scratch dataset of this name: its parent exists, a leftover is gone. */
export async function clearScratch(exec: Exec, name: string): Promise<void> {
  await ensureParent(exec, name);
  await destroyScratch(exec, name);
}

/** A clone of `snapshot` (`dataset@name`), mounted at `path`; read-only unless asked. */
export async function mountClone(
  exec: Exec,
  snapshot: string,
  clone: string,
  path: string,
  writable = false,
): Promise<void> {
  await clearScratch(exec, clone);
  await runChecked(exec, { argv: ["mkdir", "-p", path] });
  const readonly = `readonly=${writable ? "off" : "on"}`;
  await oneMountAtATime(exec, () =>
    runChecked(exec, {
      argv: ["zfs", "clone", "-o", readonly, "-o", `mountpoint=${path}`, snapshot, clone],
    }),
  );
}

/** An empty writable dataset mounted at `path`, for a restore to fill. */
export async function createScratch(exec: Exec, name: string, path: string): Promise<void> {
  await clearScratch(exec, name);
  await runChecked(exec, { argv: ["mkdir", "-p", path] });
  await oneMountAtATime(exec, () =>
    runChecked(exec, { argv: ["zfs", "create", "-o", `mountpoint=${path}`, name] }),
  );
}

/**
 * Destroys a scratch dataset and its snapshots (holt made them all; none
 * holds anything of the user's), waiting out zfs-fuse's brief "busy".
 */
export async function destroyScratch(exec: Exec, name: string): Promise<void> {
  const r = await runRetrying(
    exec,
    { argv: ["zfs", "destroy", "-r", name] },
    { retryIf: /busy/, budgetMs: 10_000, between: ["zfs", "unmount", name] },
  );
  if (r.code === 0 || /does not exist/.test(r.stderr)) return;
  throw new HoltError(
    "HOLT_E_ZFS",
    `Could not remove holt's scratch dataset ${name} on ${exec.target}: ${r.stderr.trim()}`,
  );
}
