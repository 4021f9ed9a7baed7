/**
 * holt's snapshots of a service's state: taking one consistent snapshot of a
 * service's datasets, listing them with what retention needs, and destroying
 * the ones retention gives up.
 *
 * A snapshot is holt's when its name starts with `holt-` and its local
 * `holt:managed` property names the lab, set in the same `zfs snapshot -o`
 * that makes it. zfs-fuse takes one snapshot argument only, so a service's
 * datasets are snapshotted together with `-r` on the service's root.
 *
 * zfs-fuse has no `zfs list -p` and no `zfs holds`: creation times, hold
 * counts and guids come from one `zfs get -H -p -r` of the dataset and
 * everything below it (snapshots included, as on OpenZFS), the value
 * column last so that a value with a tab or line break cannot shift it.
 */
import { HoltError } from "../errors.ts";
import type { Exec } from "../hosts/exec.ts";
import { runChecked } from "../hosts/run-checked.ts";
import { DATASET_OWNER_PROPERTY as OWNER } from "../model/dataset.ts";
import type { SnapshotInfo } from "../model/retention.ts";
import { parseZfsGet, ZFS_GET_COLUMNS, type ZfsValue, zfsGetOrder } from "../util/zfs-get.ts";

export const SNAPSHOT_PREFIX = "holt-";

/** `holt-20261126T080000Z`: sortable, and the same name on every copy of the data. */
export function snapshotName(at: Date): string {
  return `${SNAPSHOT_PREFIX}${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
}

/** The time in a holt snapshot name, or null for any other name. */
export function timeOfName(name: string): number | null {
  const m = /^holt-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(name);
  if (m === null) return null;
  const [, y, mo, d, h, mi, se] = m.map(Number) as number[];
  return Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, se ?? 0);
}

export interface DatasetSnapshot extends SnapshotInfo {
  /** The dataset it belongs to. */
  readonly dataset: string;
  /** ZFS's identity of the snapshot: equal on every copy a send/receive made. */
  readonly guid: string;
}

/** A property as `zfs get` printed it: its value and where it comes from (`local`, `-`, …). */
export type PropertyValue = ZfsValue;

/**
 * `zfs get -r` of `properties` on `root` and everything below it, snapshots
 * included, in one command: each dataset and snapshot by full name, in the
 * order ZFS printed them (a dataset's snapshots oldest first). null when
 * `root` does not exist.
 */
export async function readTree(
  exec: Exec,
  root: string,
  properties: readonly string[],
): Promise<Map<string, Map<string, PropertyValue>> | null> {
  const asked = zfsGetOrder(properties);
  const r = await exec.run({
    argv: ["zfs", "get", "-H", "-p", "-r", "-o", ZFS_GET_COLUMNS, asked.join(","), root],
  });
  if (r.code !== 0) {
    if (/does not exist/.test(r.stderr)) return null;
    throw new HoltError(
      "HOLT_E_ZFS",
      `Could not read ${root} and its snapshots on ${exec.target}: ${r.stderr.trim()}`,
    );
  }
  // Values may hold tabs and line breaks (a property set by another tool): util/zfs-get.ts.
  const parsed = parseZfsGet(r.stdout, asked);
  if (!parsed.ok) {
    throw new HoltError(
      "HOLT_E_ZFS",
      `Could not read \`zfs get\` output for ${root} and its snapshots on ${exec.target}: ${parsed.reason}. Nothing was changed.`,
    );
  }
  return parsed.datasets;
}

/** What `snapshotsOf` needs from `readTree`. */
export const SNAPSHOT_PROPERTIES = ["creation", "userrefs", "guid", OWNER] as const;

/** Every snapshot of `root` and its descendants, with creation, holds and holt's mark. */
export async function listSnapshots(
  exec: Exec,
  root: string,
  lab: string,
): Promise<DatasetSnapshot[]> {
  const tree = await readTree(exec, root, SNAPSHOT_PROPERTIES);
  return tree === null ? [] : snapshotsOf(tree, lab, exec.target);
}

/** The snapshots in a `readTree` answer (read with at least `SNAPSHOT_PROPERTIES`). */
export function snapshotsOf(
  tree: ReadonlyMap<string, ReadonlyMap<string, PropertyValue>>,
  lab: string,
  where: string,
): DatasetSnapshot[] {
  const out: DatasetSnapshot[] = [];
  for (const [full, p] of tree) {
    const at = full.indexOf("@");
    if (at < 0) continue;
    const dataset = full.slice(0, at);
    const name = full.slice(at + 1);
    const created = Number(p.get("creation")?.value);
    const owner = p.get(OWNER);
    const mark = owner !== undefined && owner.source === "local" ? owner.value : null;
    const holt = name.startsWith(SNAPSHOT_PREFIX) && mark === lab;
    if (!Number.isFinite(created)) {
      throw new HoltError("HOLT_E_ZFS", `No creation time for snapshot ${full} on ${where}.`);
    }
    out.push({
      dataset,
      name,
      // holt's names carry the time the run was for (a test clock, a late timer): retention
      // goes by that, so it is the same on every copy; other snapshots by their creation.
      createdMs: (holt ? timeOfName(name) : null) ?? created * 1000,
      holt,
      held: Number(p.get("userrefs")?.value ?? "0") > 0,
      guid: p.get("guid")?.value ?? "",
    });
  }
  return out;
}

/**
 * One snapshot of `root` and everything below it, taken at once
 * (`zfs snapshot -r`), then marked as the lab's on each dataset. Returns
 * what it made (`dataset@name`) and every snapshot under `root` now, as
 * `listSnapshots` reads them, so retention need not read them again.
 */
export async function takeSnapshot(
  exec: Exec,
  root: string,
  name: string,
  lab: string,
): Promise<{ made: string[]; all: DatasetSnapshot[] }> {
  // -o marks every snapshot in the same step: no window where one exists unmarked.
  const r = await exec.run({
    argv: ["zfs", "snapshot", "-r", "-o", `${OWNER}=${lab}`, `${root}@${name}`],
  });
  // A rerun for the same time finds it made: done.
  if (r.code !== 0 && !/already exists/.test(r.stderr)) {
    throw new HoltError(
      "HOLT_E_ZFS",
      `Could not snapshot ${root}@${name} on ${exec.target}: ${r.stderr.trim()}`,
    );
  }
  const all = await listSnapshots(exec, root, lab);
  const made = all.filter((s) => s.name === name).map((s) => `${s.dataset}@${name}`);
  return { made, all };
}

/** Destroys one of holt's snapshots; refuses one that is not the lab's or is held. */
export async function destroySnapshot(exec: Exec, snapshot: DatasetSnapshot): Promise<void> {
  if (!snapshot.holt || snapshot.held) {
    throw new HoltError(
      "HOLT_E_INTERNAL",
      `refusing to destroy ${snapshot.dataset}@${snapshot.name}: ${snapshot.held ? "it is held" : "it is not holt's"}`,
    );
  }
  await runChecked(exec, { argv: ["zfs", "destroy", `${snapshot.dataset}@${snapshot.name}`] });
}
