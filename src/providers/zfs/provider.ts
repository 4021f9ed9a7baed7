/**
 * ZFS datasets. Ownership lives in ZFS itself: a dataset belongs to the lab
 * when its `holt:managed` user property is set *locally* to the lab's name
 * (children inherit user properties, so an inherited value means nothing).
 * Losing holt's database therefore never orphans a dataset.
 */
import type {
  DeleteOptions,
  FieldChange,
  InputProblem,
  Observed,
  OwnedResource,
  Provider,
  ProviderContext,
  ReadResult,
} from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { oneMountAtATime } from "../../hosts/mount-lock.ts";
import { runChecked, runRetrying } from "../../hosts/run-checked.ts";
import { DATASET_TYPE, type DatasetInputs, datasetAddress, poolOf } from "../../model/dataset.ts";
import { ZFS_GET_COLUMNS, zfsGetOrder } from "../../util/zfs-get.ts";
import { compressionUnsupported, poolCapabilities, recordsizeUnsupported } from "./capabilities.ts";
import { type DatasetProperties, parseZfsGet, parseZpoolGet } from "./parse.ts";
import {
  CREATE_ONLY,
  displayValue,
  isManagedNative,
  isUserProperty,
  LIMITS,
  MANAGED_NATIVE,
  MANAGED_PROPS,
  OWNER,
  SERVICE,
  setValue,
} from "./properties.ts";

/** What holt compares: stable fields only, so saved plans can be bound to it. */
export interface DatasetState {
  /** Managed native and user properties whose source is "local". */
  readonly local: Readonly<Record<string, string>>;
  /** Create-time properties (casesensitivity). */
  readonly createOnly: Readonly<Record<string, string>>;
  /** User properties holt set earlier (from `holt:props`). */
  readonly userProps: readonly string[];
  /** The lab that owns it, or null. */
  readonly owner: string | null;
  readonly service: string | null;
  /**
   * "uid:gid" of the mountpoint directory; read only for desired datasets that
   * declare an `owner` (a service's `user`), otherwise absent.
   */
  readonly dirOwner?: string | null;
}

/** Datasets moved aside by a destroy live under `<pool>/holt-trash`. */
export const TRASH = "holt-trash";

function isTrash(name: string): boolean {
  const [, second] = name.split("/");
  return second === TRASH;
}

function stateOf(properties: DatasetProperties): DatasetState {
  const local: Record<string, string> = {};
  const createOnly: Record<string, string> = {};
  let owner: string | null = null;
  let service: string | null = null;
  let userProps: string[] = [];
  for (const [name, { value, source }] of properties) {
    if (CREATE_ONLY.has(name)) createOnly[name] = value;
    if (source !== "local") continue;
    if (name === OWNER) owner = value;
    else if (name === SERVICE) service = value;
    else if (name === MANAGED_PROPS) userProps = value.split(",").filter((p) => p !== "");
    else if (name.startsWith("holt:")) continue;
    else if (isManagedNative(name) || isUserProperty(name)) local[name] = value;
  }
  return { local, createOnly, userProps: userProps.sort(), owner, service };
}

function observedOf(properties: DatasetProperties, lab: string): Observed<DatasetState> {
  const state = stateOf(properties);
  const info: Record<string, number> = {};
  const used = properties.get("used")?.value;
  if (used !== undefined && /^\d+$/.test(used)) info.used = Number(used);
  const quota = properties.get("quota")?.value;
  if (quota !== undefined && /^[1-9]\d*$/.test(quota)) info.quota = Number(quota);
  return {
    state,
    managed: state.owner === lab,
    ...(Object.keys(info).length > 0 ? { info } : {}),
  };
}

function userPropsOf(inputs: DatasetInputs): string[] {
  return Object.keys(inputs.properties).filter(isUserProperty).sort();
}

/** Hosts whose `zfs get` has no `-t` (zfs-fuse), so the probe runs once per connection. */
const WITHOUT_TYPE_FILTER = new WeakSet<Exec>();

/**
 * The properties holt reads of every filesystem: those it manages, its own
 * marks, and what plans show. Never "all": other tools' user properties are
 * none of holt's business, and they may hold anything (util/zfs-get.ts).
 */
export const READ_PROPERTIES: readonly string[] = [
  ...MANAGED_NATIVE,
  "used",
  "mounted",
  OWNER,
  SERVICE,
  MANAGED_PROPS,
];

/** A user property name as ZFS accepts them; anything else in `holt:props` is not asked for. */
const USER_PROPERTY = /^[a-z0-9][a-z0-9_.:-]{0,254}$/;

/** `zfs get` of `properties` on `datasets`, or on every filesystem (`-t filesystem` where supported). */
async function zfsGet(
  exec: Exec,
  properties: readonly string[],
  datasets: readonly string[],
): Promise<string> {
  const base = ["zfs", "get", "-H", "-p", "-o", ZFS_GET_COLUMNS];
  const list = properties.join(",");
  if (datasets.length > 0 || WITHOUT_TYPE_FILTER.has(exec)) {
    return (await runChecked(exec, { argv: [...base, list, ...datasets] })).stdout;
  }
  const typed = await exec.run({ argv: [...base, "-t", "filesystem", list] });
  if (typed.code === 0) return typed.stdout;
  if (/invalid option/.test(typed.stderr)) {
    WITHOUT_TYPE_FILTER.add(exec);
    return (await runChecked(exec, { argv: [...base, list] })).stdout;
  }
  return (await runChecked(exec, { argv: [...base, "-t", "filesystem", list] })).stdout;
}

/**
 * Every filesystem with the properties holt reads, plus the user
 * properties the desired datasets set and those `holt:props` says holt set
 * on the lab's datasets (asked again, of those datasets only, when a
 * property left the config).
 */
async function readAll(
  exec: Exec,
  lab: string,
  userProps: readonly string[],
): Promise<Map<string, DatasetProperties>> {
  const properties = zfsGetOrder([...new Set([...READ_PROPERTIES, ...userProps])]);
  const all = parseZfsGet(await zfsGet(exec, properties, []), properties, exec.target);
  const missing = new Set<string>();
  const owners: string[] = [];
  for (const [name, values] of all) {
    const owner = values.get(OWNER);
    if (owner?.source !== "local" || owner.value !== lab) continue;
    const left = (values.get(MANAGED_PROPS)?.value ?? "")
      .split(",")
      .filter((p) => USER_PROPERTY.test(p) && p.includes(":") && !properties.includes(p));
    if (left.length === 0) continue;
    owners.push(name);
    for (const p of left) missing.add(p);
  }
  if (missing.size > 0) {
    const more = zfsGetOrder([...missing].sort());
    const second = parseZfsGet(await zfsGet(exec, more, owners), more, exec.target);
    for (const [name, values] of second) {
      const known = all.get(name);
      for (const p of missing) {
        const value = values.get(p);
        if (known !== undefined && value !== undefined) known.set(p, value);
      }
    }
  }
  return all;
}

function safetySnapshotName(label: string): string {
  return label.replace(/[^A-Za-z0-9_.:-]/g, "-");
}

interface ZfsChange {
  readonly property: string;
  /** null: inherit. */
  readonly value: string | null;
}

/** The raw property changes from observed to desired. */
function changesOf(
  desired: DatasetInputs,
  state: DatasetState,
): { set: ZfsChange[]; replace: FieldChange[] } {
  const set: ZfsChange[] = [];
  const replace: FieldChange[] = [];
  for (const [property, value] of Object.entries(desired.properties)) {
    if (CREATE_ONLY.has(property)) {
      const current = state.createOnly[property] ?? null;
      if (current !== value) {
        replace.push({ path: property, before: current, after: value, forcesReplace: true });
      }
      continue;
    }
    const current = state.local[property];
    if (current === value) continue;
    if (current === undefined && LIMITS.has(property) && value === "0") continue;
    set.push({ property, value });
  }
  for (const property of Object.keys(state.local).sort()) {
    if (property in desired.properties) continue;
    if (isManagedNative(property) || state.userProps.includes(property)) {
      set.push({ property, value: null });
    }
  }
  return { set, replace };
}

export function createZfsDatasetProvider(): Provider<DatasetInputs, DatasetState> {
  return {
    type: DATASET_TYPE,
    noun: "dataset",
    holdsData: true,

    async read(ctx, desired): Promise<ReadResult<DatasetState>> {
      const userProps = [...new Set(desired.flatMap((r) => userPropsOf(r.inputs)))].sort();
      const all = await readAll(ctx.exec, ctx.lab, userProps);
      const observed = new Map<string, Observed<DatasetState>>();
      const withOwner: { address: string; mountpoint: string }[] = [];
      for (const resource of desired) {
        const properties = all.get(resource.inputs.name);
        if (properties === undefined) continue;
        const o = observedOf(properties, ctx.lab);
        observed.set(resource.address, o);
        if (resource.inputs.owner === undefined) continue;
        const mountpoint = properties.get("mountpoint")?.value;
        if (properties.get("mounted")?.value === "yes" && mountpoint?.startsWith("/")) {
          withOwner.push({ address: resource.address, mountpoint });
        } else observed.set(resource.address, { ...o, state: { ...o.state, dirOwner: null } });
      }
      const owners = await statOwners(
        ctx.exec,
        withOwner.map((w) => w.mountpoint),
      );
      withOwner.forEach((w, index) => {
        const o = observed.get(w.address);
        if (o !== undefined)
          observed.set(w.address, { ...o, state: { ...o.state, dirOwner: owners[index] ?? null } });
      });
      const owned: OwnedResource<DatasetState>[] = [];
      const ownedNames = new Set<string>();
      for (const [name, properties] of all) {
        const owner = properties.get(OWNER);
        if (owner?.source === "local" && owner.value === ctx.lab && !isTrash(name))
          ownedNames.add(name);
      }
      for (const name of ownedNames) {
        const properties = all.get(name);
        if (properties === undefined) continue;
        const o = observedOf(properties, ctx.lab);
        let parent = name.lastIndexOf("/") > 0 ? name.slice(0, name.lastIndexOf("/")) : undefined;
        while (parent !== undefined && !ownedNames.has(parent)) {
          parent =
            parent.lastIndexOf("/") > 0 ? parent.slice(0, parent.lastIndexOf("/")) : undefined;
        }
        owned.push({
          address: datasetAddress(ctx.host, name),
          type: DATASET_TYPE,
          host: ctx.host,
          ...(o.state.service === null ? {} : { service: o.state.service }),
          name,
          dependsOn: parent === undefined ? [] : [datasetAddress(ctx.host, parent)],
          observed: o,
        });
      }
      return { observed, owned, problems: await checkCapabilities(ctx, desired) };
    },

    diff(desired, observed) {
      const { set, replace } = changesOf(desired.inputs, observed.state);
      const fields: FieldChange[] = set.map(({ property, value }) => ({
        path: property,
        before: displayValue(property, observed.state.local[property] ?? null),
        after: displayValue(property, value),
      }));
      const owner = desired.inputs.owner;
      if (owner !== undefined && !ownerMatches(owner, observed.state.dirOwner ?? null)) {
        fields.push({ path: "owner", before: observed.state.dirOwner ?? null, after: owner });
      }
      return [...replace, ...fields];
    },

    describe(desired) {
      const fields: FieldChange[] = Object.entries(desired.inputs.properties)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([property, value]) => ({
          path: property,
          before: null,
          after: displayValue(property, value),
        }));
      const owner = desired.inputs.owner;
      return owner === undefined
        ? fields
        : [...fields, { path: "owner", before: null, after: owner }];
    },

    async create(ctx, desired) {
      const argv = ["zfs", "create", "-p"];
      for (const [property, value] of Object.entries(desired.inputs.properties)) {
        argv.push("-o", `${property}=${setValue(property, value)}`);
      }
      argv.push("-o", `${OWNER}=${ctx.lab}`);
      if (desired.service !== undefined) argv.push("-o", `${SERVICE}=${desired.service}`);
      const userProps = userPropsOf(desired.inputs);
      if (userProps.length > 0) argv.push("-o", `${MANAGED_PROPS}=${userProps.join(",")}`);
      argv.push(desired.inputs.name);
      await oneMountAtATime(ctx.exec, () => runChecked(ctx.exec, { argv }));
      if (desired.inputs.owner !== undefined) {
        await chownMountpoint(ctx, desired.inputs.name, desired.inputs.owner);
      }
    },

    async update(ctx, desired, observed) {
      await converge(ctx.exec, desired, observed.state);
      const owner = desired.inputs.owner;
      if (owner !== undefined && !ownerMatches(owner, observed.state.dirOwner ?? null)) {
        await chownMountpoint(ctx, desired.inputs.name, owner);
      }
    },

    async delete(ctx, owned, options: DeleteOptions) {
      const name = owned.name;
      const children = (
        await runChecked(ctx.exec, { argv: ["zfs", "list", "-H", "-o", "name", "-r", name] })
      ).stdout
        .split("\n")
        .filter((line) => line !== "" && line !== name && !line.includes("@"));
      if (children.length > 0) {
        throw new HoltError(
          "HOLT_E_ZFS",
          `Refusing to destroy dataset "${name}" on host "${ctx.host}": it holds datasets that are not being destroyed (${children.slice(0, 5).join(", ")}). Destroy or move them first.`,
        );
      }
      const snapshot = safetySnapshotName(options.safetySnapshot);
      const trashRoot = `${poolOf(name)}/${TRASH}`;
      await runChecked(ctx.exec, { argv: ["zfs", "snapshot", `${name}@${snapshot}`] });
      const exists = await ctx.exec.run({ argv: ["zfs", "list", "-H", "-o", "name", trashRoot] });
      if (exists.code !== 0) {
        await runChecked(ctx.exec, {
          argv: ["zfs", "create", "-o", "canmount=off", "-o", "mountpoint=none", trashRoot],
        });
      }
      // zfs-fuse cannot rename a mounted dataset ("dataset is busy"); in the
      // trash it stays unmounted anyway (the trash root has mountpoint=none).
      const unmount = await ctx.exec.run({ argv: ["zfs", "unmount", name] });
      if (unmount.code !== 0 && !/not currently mounted/.test(unmount.stderr)) {
        throw new HoltError(
          "HOLT_E_ZFS",
          `Cannot destroy dataset "${name}" on host "${ctx.host}": it is in use and cannot be unmounted (${unmount.stderr.trim()}). Stop whatever uses it and run again.`,
        );
      }
      const flat = name.split("/").slice(1).join("_");
      const target = `${trashRoot}/${snapshot}_${flat}`;
      // Rename first: anything under holt-trash is ignored when reading, so a
      // crash after this point leaves nothing for a rerun to trip over.
      await renameWhenFree(ctx.exec, name, target);
      await runChecked(ctx.exec, { argv: ["zfs", "set", `holt:trashed-from=${name}`, target] });
      if ("mountpoint" in owned.observed.state.local) {
        await runChecked(ctx.exec, { argv: ["zfs", "inherit", "mountpoint", target] });
      }
      for (const property of [SERVICE, MANAGED_PROPS, OWNER]) {
        await runChecked(ctx.exec, { argv: ["zfs", "inherit", property, target] });
      }
    },

    async release(ctx, owned) {
      // The owner mark goes last: a crash before it leaves the dataset owned,
      // so a rerun finishes the release.
      for (const property of [SERVICE, MANAGED_PROPS, OWNER]) {
        await runChecked(ctx.exec, { argv: ["zfs", "inherit", property, owned.name] });
      }
    },

    async adopt(ctx, desired, observed) {
      await runChecked(ctx.exec, {
        argv: ["zfs", "set", `${OWNER}=${ctx.lab}`, desired.inputs.name],
      });
      await converge(ctx.exec, desired, observed.state);
    },
  };
}

/** How long a rename waits out "dataset is busy" after the unmount, in all. */
const BUSY_WAIT_MS = 8_000;

/**
 * `zfs rename` of a just-unmounted dataset. zfs-fuse sometimes still answers
 * "dataset is busy" for a moment after the unmount (a mount namespace that
 * has not let go yet); waiting it out, and unmounting again, lets it through.
 * Anything else, or busy for longer, fails as usual.
 */
async function renameWhenFree(exec: Exec, name: string, target: string): Promise<void> {
  const argv = ["zfs", "rename", name, target];
  const r = await runRetrying(
    exec,
    { argv },
    { retryIf: /dataset is busy/i, budgetMs: BUSY_WAIT_MS, between: ["zfs", "unmount", name] },
  );
  if (r.code !== 0) await runChecked(exec, { argv });
}

async function converge(
  exec: Exec,
  desired: Resource<DatasetInputs>,
  state: DatasetState,
): Promise<void> {
  const name = desired.inputs.name;
  const { set } = changesOf(desired.inputs, state);
  const wantedUserProps = userPropsOf(desired.inputs);
  // Record new user properties before setting them, so a crash in between
  // still lets a later run inherit them if they leave the config.
  const union = [...new Set([...state.userProps, ...wantedUserProps])].sort();
  if (union.join(",") !== state.userProps.join(",")) {
    await runChecked(exec, { argv: ["zfs", "set", `${MANAGED_PROPS}=${union.join(",")}`, name] });
  }
  // zfs-fuse takes one property per `zfs set`/`zfs inherit`; so does this.
  for (const { property, value } of set) {
    const argv =
      value === null
        ? ["zfs", "inherit", property, name]
        : ["zfs", "set", `${property}=${setValue(property, value)}`, name];
    await runChecked(exec, { argv });
  }
  if (wantedUserProps.join(",") !== union.join(",")) {
    const argv =
      wantedUserProps.length === 0
        ? ["zfs", "inherit", MANAGED_PROPS, name]
        : ["zfs", "set", `${MANAGED_PROPS}=${wantedUserProps.join(",")}`, name];
    await runChecked(exec, { argv });
  }
  const service = desired.service ?? null;
  if (service !== state.service) {
    const argv =
      service === null
        ? ["zfs", "inherit", SERVICE, name]
        : ["zfs", "set", `${SERVICE}=${service}`, name];
    await runChecked(exec, { argv });
  }
}

/** "1000" matches any group; "1000:100" must match both. */
function ownerMatches(wanted: string, actual: string | null): boolean {
  if (actual === null) return false;
  return wanted.includes(":") ? wanted === actual : actual.split(":")[0] === wanted;
}

/** "uid:gid" of each path, in order; null for one that cannot be read. */
async function statOwners(exec: Exec, paths: readonly string[]): Promise<(string | null)[]> {
  if (paths.length === 0) return [];
  // One stat for all; a missing path fails alone (stat goes on with the rest).
  const result = await exec.run({ argv: ["stat", "-c", "%u:%g %n", "--", ...paths] });
  const byPath = new Map<string, string>();
  for (const line of result.stdout.split("\n")) {
    const space = line.indexOf(" ");
    if (space > 0) byPath.set(line.slice(space + 1), line.slice(0, space));
  }
  return paths.map((p) => byPath.get(p) ?? null);
}

/** Gives the dataset's mountpoint directory (not its contents) to the service's user. */
async function chownMountpoint(ctx: ProviderContext, name: string, owner: string): Promise<void> {
  const result = await runChecked(ctx.exec, {
    argv: ["zfs", "get", "-H", "-p", "-o", "value", "mounted,mountpoint", name],
  });
  const [mounted, mountpoint] = result.stdout.split("\n");
  if (mounted !== "yes" || mountpoint === undefined || !mountpoint.startsWith("/")) {
    throw new HoltError(
      "HOLT_E_ZFS",
      `Cannot give dataset "${name}" on host "${ctx.host}" to user ${owner}: it is not mounted (mounted=${mounted ?? "?"}, mountpoint=${mountpoint ?? "?"}). Mount it (zfs mount ${name}) and run again.`,
    );
  }
  await runChecked(ctx.exec, { argv: ["chown", owner, mountpoint] });
}

/** Properties the pool cannot do (compression, large records) fail at plan time, naming the config path. */
async function checkCapabilities(
  ctx: ProviderContext,
  desired: readonly Resource<DatasetInputs>[],
): Promise<InputProblem[]> {
  const wanting = desired.filter(
    (r) =>
      r.inputs.properties.compression !== undefined || r.inputs.properties.recordsize !== undefined,
  );
  if (wanting.length === 0) return [];
  const pools = [...new Set(wanting.map((r) => poolOf(r.inputs.name)))].sort();
  const result = await ctx.exec.run({ argv: ["zpool", "get", "all", ...pools] });
  const parsed = parseZpoolGet(result.stdout);
  const problems: InputProblem[] = [];
  for (const resource of wanting) {
    const pool = poolOf(resource.inputs.name);
    const properties = parsed.get(pool);
    if (properties === undefined) continue; // a missing pool is reported by the model
    const caps = poolCapabilities(pool, properties);
    const { compression, recordsize } = resource.inputs.properties;
    const noCompression =
      compression === undefined ? null : compressionUnsupported(compression, caps);
    if (noCompression !== null) {
      problems.push({
        address: resource.address,
        path: `${resource.configPath}.compression`,
        message: `"${compression}" cannot be used: ${noCompression}. Use "on", "gzip" or "lzjb" on this pool.`,
      });
    }
    const noRecordsize =
      recordsize === undefined ? null : recordsizeUnsupported(Number(recordsize), caps);
    if (noRecordsize !== null) {
      problems.push({
        address: resource.address,
        path: `${resource.configPath}.recordsize`,
        message: `"${displayValue("recordsize", recordsize ?? null)}" cannot be used: ${noRecordsize}. Use "128K" or less on this pool.`,
      });
    }
  }
  return problems;
}
