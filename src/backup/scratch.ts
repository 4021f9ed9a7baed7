/**
 * holt's scratch datasets: read-only clones of a snapshot for reading it
 * (zfs-fuse has no `.zfs/snapshot`), and datasets a restore or a drill
 * fills before anything live is touched.
 *
 * Each is `<pool>/holt-<purpose>/<lab>/<service>/<entry>`: one path
 * component per name, so no two (lab, service, entry) share one (joined
 * with "-", service `web` entry `db-data` and service `web-db` entry `data`
 * did). The parents are never mounted and hold nothing of their own. Each
 * scratch dataset is created with `holt:scratch=<lab>:<purpose>` set on it,
 * in the same command, and holt destroys a dataset at a scratch name only
 * when that mark is set there (not inherited) and names this lab and
 * purpose: a leftover of a killed run is replaced, anything else is refused.
 */
import { createHash } from "node:crypto";
import { HoltError } from "../errors.ts";
import type { Exec } from "../hosts/exec.ts";
import { oneMountAtATime } from "../hosts/mount-lock.ts";
import { runChecked, runRetrying } from "../hosts/run-checked.ts";

export type ScratchPurpose = "offsite" | "restore" | "manifest" | "verify";

/** The mark on every scratch dataset: `<lab>:<purpose>`. */
export const SCRATCH_PROPERTY = "holt:scratch";

/** A scratch dataset: its name, where it is mounted, and the mark it carries. */
export interface Scratch {
  readonly name: string;
  readonly path: string;
  readonly mark: string;
  readonly purpose: ScratchPurpose;
}

/**
 * A name as one ZFS path component, unambiguously: letters, digits, `_`
 * and `-` stay; every other byte (`.`, `:`, `/`, space, non-ASCII) becomes
 * `:` and two hex digits. Different names never give the same component.
 */
export function scratchComponent(name: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(name)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `:${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/**
 * The longest scratch name: ZFS takes 255 characters, and below a scratch
 * dataset go a received `copy` and its snapshot (`/copy@holt-<time>`, or a
 * longer restore-safety name).
 */
export const SCRATCH_NAME_MAX = 255 - 64;

/**
 * The scratch dataset of this purpose for a service's state entry, on the
 * pool of `dataset`. A name longer than `SCRATCH_NAME_MAX` (a long lab
 * name, which may be a whole domain) is `::` and a digest of the three
 * names instead, one component: `scratchComponent` never writes `::`.
 */
export function scratchFor(
  dataset: string,
  purpose: ScratchPurpose,
  lab: string,
  service: string,
  entry: string,
): Scratch {
  const pool = dataset.split("/")[0];
  const area = `${pool}/holt-${purpose}`;
  const plain = `${area}/${[lab, service, entry].map(scratchComponent).join("/")}`;
  const digest = createHash("sha256")
    .update(JSON.stringify([lab, service, entry]))
    .digest("hex")
    .slice(0, 32);
  return {
    name: plain.length <= SCRATCH_NAME_MAX ? plain : `${area}/::${digest}`,
    path: scratchPath(purpose, lab, service, entry),
    mark: `${lab}:${purpose}`,
    purpose,
  };
}

/**
 * Where a scratch dataset of this purpose is mounted. The offsite path is
 * recorded in every restic copy (restic finds a copy's parent by it), so it
 * stays as it has always been.
 */
export function scratchPath(
  purpose: ScratchPurpose,
  lab: string,
  service: string,
  entry: string,
): string {
  return `/var/lib/holt/${purpose}/${lab}/${service}/${entry}`;
}

/** What is at a scratch name, as `zfs get -H -o value,source holt:scratch NAME` said. */
export type ScratchReading =
  | { readonly exists: false }
  | { readonly exists: true; readonly value: string; readonly source: string };

export type ScratchVerdict =
  | { readonly kind: "absent" }
  | { readonly kind: "ours" }
  | { readonly kind: "foreign"; readonly why: string };

/** Whether the dataset at a scratch name may be destroyed: only when its own mark is this one. */
export function judgeScratch(reading: ScratchReading, mark: string): ScratchVerdict {
  if (!reading.exists) return { kind: "absent" };
  if (reading.source !== "local") {
    return {
      kind: "foreign",
      why:
        reading.source === "-"
          ? `it has no ${SCRATCH_PROPERTY} mark`
          : `its ${SCRATCH_PROPERTY} is not set on it (${reading.source})`,
    };
  }
  if (reading.value !== mark) {
    return {
      kind: "foreign",
      why: `its mark is ${SCRATCH_PROPERTY}=${reading.value}, not ${mark}`,
    };
  }
  return { kind: "ours" };
}

async function readScratch(exec: Exec, name: string): Promise<ScratchReading> {
  const r = await exec.run({
    argv: ["zfs", "get", "-H", "-o", "value,source", SCRATCH_PROPERTY, name],
  });
  if (r.code !== 0) {
    if (/does not exist/.test(r.stderr)) return { exists: false };
    throw new HoltError(
      "HOLT_E_ZFS",
      `Could not read ${name} on ${exec.target}: ${r.stderr.trim() || `exit ${r.code ?? r.signal}`}`,
    );
  }
  const [value = "", source = ""] = r.stdout.replace(/\n$/, "").split("\t");
  return { exists: true, value, source };
}

/** The verdict on what is at the scratch name; a foreign dataset is refused, never destroyed. */
async function judged(exec: Exec, scratch: Scratch): Promise<"absent" | "ours"> {
  const verdict = judgeScratch(await readScratch(exec, scratch.name), scratch.mark);
  if (verdict.kind !== "foreign") return verdict.kind;
  throw new HoltError(
    "HOLT_E_SCRATCH",
    `${scratch.name} on ${exec.target} is where holt puts its ${scratch.purpose} scratch copy, but it is not holt's: ${verdict.why}. holt leaves it alone. Rename or move it (\`zfs rename ${scratch.name} <new name>\`), or, if it is a leftover of holt's you no longer need, destroy it yourself; then run again.`,
  );
}

/** `<pool>/holt-<purpose>` (never mounted), then the scratch dataset's parents under it. */
async function ensureParents(exec: Exec, name: string): Promise<void> {
  const [pool = "", top = ""] = name.split("/");
  const area = `${pool}/${top}`;
  const has = await exec.run({ argv: ["zfs", "list", "-H", "-o", "name", area] });
  if (has.code !== 0) {
    const made = await exec.run({
      argv: ["zfs", "create", "-o", "canmount=off", "-o", "mountpoint=none", area],
    });
    // Services are backed up at once: another may have made it since.
    if (made.code !== 0 && !/already exists/.test(made.stderr)) {
      throw new HoltError(
        "HOLT_E_ZFS",
        `Could not create ${area} for holt's scratch datasets on ${exec.target}: ${made.stderr.trim()}`,
      );
    }
  }
  // Below it, mountpoint=none is inherited: `-p` makes the lab's and service's levels unmounted.
  // Two services creating their levels at once can make `-p` fail on the lab's level, which the
  // other just made ("already exists"), before it made its own: then it goes again.
  const parent = name.slice(0, name.lastIndexOf("/"));
  let made = await exec.run({ argv: ["zfs", "create", "-p", "-o", "canmount=off", parent] });
  for (let again = 0; again < 5 && made.code !== 0 && /already exists/.test(made.stderr); again++) {
    made = await exec.run({ argv: ["zfs", "create", "-p", "-o", "canmount=off", parent] });
  }
  if (made.code === 0) return;
  throw new HoltError(
    "HOLT_E_ZFS",
    `Could not create ${parent} for holt's scratch datasets on ${exec.target}: ${made.stderr.trim()}`,
  );
}

/** Makes room for a scratch dataset: its parents exist, a leftover of holt's is gone. */
export async function clearScratch(exec: Exec, scratch: Scratch): Promise<void> {
  await ensureParents(exec, scratch.name);
  await destroyScratch(exec, scratch);
}

/** A clone of `snapshot` (`dataset@name`) as the scratch dataset; read-only unless asked. */
export async function mountClone(
  exec: Exec,
  snapshot: string,
  scratch: Scratch,
  writable = false,
): Promise<void> {
  await clearScratch(exec, scratch);
  await runChecked(exec, { argv: ["mkdir", "-p", scratch.path] });
  const readonly = `readonly=${writable ? "off" : "on"}`;
  await oneMountAtATime(exec, () =>
    runChecked(exec, {
      argv: [
        "zfs",
        "clone",
        "-o",
        `${SCRATCH_PROPERTY}=${scratch.mark}`,
        "-o",
        readonly,
        "-o",
        `mountpoint=${scratch.path}`,
        snapshot,
        scratch.name,
      ],
    }),
  );
}

/** An empty writable scratch dataset, mounted, for a restore to fill. */
export async function createScratch(exec: Exec, scratch: Scratch): Promise<void> {
  await clearScratch(exec, scratch);
  await runChecked(exec, { argv: ["mkdir", "-p", scratch.path] });
  await oneMountAtATime(exec, () => createMarked(exec, scratch, [`mountpoint=${scratch.path}`]));
}

/**
 * The scratch dataset as an unmounted, marked container, and the name of
 * the child a stream is received into (`zfs receive` cannot set a property
 * on zfs-fuse, and a dataset it half-received must still be holt's).
 */
export async function createReceiveScratch(exec: Exec, scratch: Scratch): Promise<string> {
  await clearScratch(exec, scratch);
  await createMarked(exec, scratch, ["canmount=off", "mountpoint=none"]);
  return `${scratch.name}/copy`;
}

/** `zfs create` of the scratch dataset with its mark, set in the same command. */
async function createMarked(exec: Exec, scratch: Scratch, properties: string[]): Promise<void> {
  const options = [`${SCRATCH_PROPERTY}=${scratch.mark}`, ...properties].flatMap((p) => ["-o", p]);
  await runChecked(exec, { argv: ["zfs", "create", ...options, scratch.name] });
}

/**
 * Destroys a scratch dataset with its children and snapshots (holt made
 * them all; none holds anything of the user's), waiting out zfs-fuse's
 * brief "busy". Only when it carries this scratch's mark: else it is refused.
 */
export async function destroyScratch(exec: Exec, scratch: Scratch): Promise<void> {
  if ((await judged(exec, scratch)) === "absent") return;
  const r = await runRetrying(
    exec,
    { argv: ["zfs", "destroy", "-r", scratch.name] },
    { retryIf: /busy/, budgetMs: 10_000, between: ["zfs", "unmount", scratch.name] },
  );
  if (r.code === 0 || /does not exist/.test(r.stderr)) return;
  throw new HoltError(
    "HOLT_E_ZFS",
    `Could not remove holt's scratch dataset ${scratch.name} on ${exec.target}: ${r.stderr.trim()}`,
  );
}
