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
 * zfs-fuse has no `zfs list -p` and no `zfs holds`: creation times and
 * hold counts come from `zfs get -H -p creation,userrefs,holt:managed`.
 */
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import type { SnapshotInfo } from "../../model/retention.ts";
import { OWNER } from "./properties.ts";

export const SNAPSHOT_PREFIX = "holt-";

/** `holt-20261126T080000Z`: sortable, and the same name on every copy of the data. */
export function snapshotName(at: Date): string {
  return `${SNAPSHOT_PREFIX}${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
}

export interface DatasetSnapshot extends SnapshotInfo {
  /** The dataset it belongs to. */
  readonly dataset: string;
}

/** Every snapshot of `root` and its descendants, with creation, holds and holt's mark. */
export async function listSnapshots(
  exec: Exec,
  root: string,
  lab: string,
): Promise<DatasetSnapshot[]> {
  const names = await exec.run({
    argv: ["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r", root],
  });
  if (names.code !== 0) {
    if (/does not exist/.test(names.stderr)) return [];
    throw new HoltError(
      "HOLT_E_ZFS",
      `Could not list the snapshots of ${root} on ${exec.target}: ${names.stderr.trim()}`,
    );
  }
  const list = names.stdout.split("\n").filter((n) => n.includes("@"));
  if (list.length === 0) return [];
  const props = await runChecked(exec, {
    argv: [
      "zfs",
      "get",
      "-H",
      "-p",
      "-o",
      "name,property,value,source",
      `creation,userrefs,${OWNER}`,
      ...list,
    ],
  });
  const byName = new Map<string, Map<string, { value: string; source: string }>>();
  for (const line of props.stdout.split("\n")) {
    if (line === "") continue;
    const [name = "", property = "", value = "", source = ""] = line.split("\t");
    const entry = byName.get(name) ?? new Map();
    entry.set(property, { value, source });
    byName.set(name, entry);
  }
  return list.map((full) => {
    const [dataset = "", name = ""] = full.split("@");
    const p = byName.get(full);
    const created = Number(p?.get("creation")?.value);
    const owner = p?.get(OWNER);
    const mark = owner !== undefined && owner.source === "local" ? owner.value : null;
    if (!Number.isFinite(created)) {
      throw new HoltError("HOLT_E_ZFS", `No creation time for snapshot ${full} on ${exec.target}.`);
    }
    return {
      dataset,
      name,
      createdMs: created * 1000,
      holt: name.startsWith(SNAPSHOT_PREFIX) && mark === lab,
      held: Number(p?.get("userrefs")?.value ?? "0") > 0,
    };
  });
}

/**
 * One snapshot of `root` and everything below it, taken at once
 * (`zfs snapshot -r`), then marked as the lab's on each dataset.
 */
export async function takeSnapshot(
  exec: Exec,
  root: string,
  name: string,
  lab: string,
): Promise<string[]> {
  // -o marks every snapshot in the same step: no window where one exists unmarked.
  await runChecked(exec, {
    argv: ["zfs", "snapshot", "-r", "-o", `${OWNER}=${lab}`, `${root}@${name}`],
  });
  const made = (await listSnapshots(exec, root, lab)).filter((s) => s.name === name);
  return made.map((s) => `${s.dataset}@${name}`);
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
