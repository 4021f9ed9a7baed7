/**
 * What plans show for containers. Containers are cattle: any change to what
 * runs replaces the container (its data lives in datasets), so every spec
 * field forces a replace; only starting a stopped or unhealthy container, or
 * installing its boot unit, is an update. Secret values never get here, and
 * their digests are never shown either: only that they changed.
 */
import type { FieldChange, Observed } from "../../engine/provider.ts";
import type {
  ContainerInputs,
  ContainerMount,
  ContainerSecret,
  HealthCheck,
  PublishedPort,
} from "../../model/container.ts";
import { formatSize } from "../../util/sizes.ts";
import { stableJson } from "../../util/stable-json.ts";
import type { ContainerState } from "./container-state.ts";

/** Shown instead of any secret value. */
export const SECRET_MASK = "(secret)";
const SECRET_CHANGED = "(secret, changed)";

const HANDLED = new Set([
  "image",
  "command",
  "user",
  "env",
  "secrets",
  "ports",
  "mounts",
  "network",
  "aliases",
  "memory",
  "cpus",
  "health",
]);

function showArgs(args: readonly string[] | null): string | null {
  if (args === null) return null;
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

export function showPort(p: PublishedPort): string {
  return `${p.hostAddress}:${p.hostPort}:${p.containerPort}/${p.protocol}`;
}

function showPorts(ports: readonly PublishedPort[]): string | null {
  return ports.length === 0 ? null : ports.map(showPort).join(", ");
}

function showMount(m: ContainerMount | undefined): string | null {
  if (m === undefined) return null;
  return m.readOnly ? `${m.dataset} (read-only)` : m.dataset;
}

function showDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function showHealth(h: HealthCheck | null): string | null {
  if (h === null) return null;
  return `GET ${h.http} on port ${h.hostPort}, every ${showDuration(h.intervalMs)}, timeout ${showDuration(h.timeoutMs)}, ${h.retries} retries`;
}

function showList(values: readonly string[]): string | null {
  return values.length === 0 ? null : values.join(", ");
}

function change(path: string, before: string | null, after: string | null): FieldChange[] {
  return before === after ? [] : [{ path, before, after, forcesReplace: true }];
}

function keyed<T>(items: readonly T[], key: (item: T) => string): Map<string, T> {
  return new Map(items.map((item) => [key(item), item]));
}

function unionSorted(a: Iterable<string>, b: Iterable<string>): string[] {
  return [...new Set([...a, ...b])].sort();
}

function secretChanged(a: ContainerSecret, b: ContainerSecret): boolean {
  return a.secret !== b.secret || a.digest !== b.digest || a.kind !== b.kind;
}

/** Every difference between two specs, one readable field each; all force a replace. */
export function specChanges(before: ContainerInputs, after: ContainerInputs): FieldChange[] {
  const fields: FieldChange[] = [
    ...change("image", before.image, after.image),
    ...change("command", showArgs(before.command), showArgs(after.command)),
    ...change("user", before.user, after.user),
  ];
  for (const key of unionSorted(Object.keys(before.env), Object.keys(after.env))) {
    fields.push(...change(`env.${key}`, before.env[key] ?? null, after.env[key] ?? null));
  }
  const oldSecrets = keyed(before.secrets, (s) => s.target);
  const newSecrets = keyed(after.secrets, (s) => s.target);
  for (const target of unionSorted(oldSecrets.keys(), newSecrets.keys())) {
    const was = oldSecrets.get(target);
    const now = newSecrets.get(target);
    if (was !== undefined && now !== undefined && !secretChanged(was, now)) continue;
    const shownNow = now === undefined ? null : was === undefined ? SECRET_MASK : SECRET_CHANGED;
    fields.push({
      path: `secret ${target}`,
      before: was === undefined ? null : SECRET_MASK,
      after: shownNow,
      forcesReplace: true,
    });
  }
  fields.push(...change("ports", showPorts(before.ports), showPorts(after.ports)));
  const oldMounts = keyed(before.mounts, (m) => m.target);
  const newMounts = keyed(after.mounts, (m) => m.target);
  for (const target of unionSorted(oldMounts.keys(), newMounts.keys())) {
    fields.push(
      ...change(
        `mount ${target}`,
        showMount(oldMounts.get(target)),
        showMount(newMounts.get(target)),
      ),
    );
  }
  fields.push(
    ...change("network", before.network, after.network),
    ...change("aliases", showList(before.aliases), showList(after.aliases)),
    ...change(
      "memory",
      before.memory === null ? null : formatSize(before.memory),
      after.memory === null ? null : formatSize(after.memory),
    ),
    ...change(
      "cpus",
      before.cpus === null ? null : String(before.cpus),
      after.cpus === null ? null : String(after.cpus),
    ),
    ...change("health", showHealth(before.health), showHealth(after.health)),
  );
  // Fields this file does not know yet (added to ContainerInputs later) still show up.
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  for (const key of unionSorted(Object.keys(b), Object.keys(a))) {
    if (HANDLED.has(key)) continue;
    const was = b[key] === undefined ? null : stableJson(b[key]);
    const now = a[key] === undefined ? null : stableJson(a[key]);
    fields.push(...change(key, was, now));
  }
  return fields;
}

/** The plan's fields for a container: replace on any spec change, else start, heal or add its boot unit. */
export function containerDiff(
  desired: ContainerInputs,
  observed: Observed<ContainerState>,
): FieldChange[] {
  const state = observed.state;
  if (state.spec === null) {
    const origin = observed.managed ? "(unreadable holt.spec label)" : "made outside holt";
    return [
      { path: "container", before: origin, after: "created by holt", forcesReplace: true },
      ...change("image", state.image, desired.image),
    ];
  }
  const replace = specChanges(state.spec, desired);
  if (replace.length > 0) return replace;
  const update: FieldChange[] = [];
  if (!state.running) update.push({ path: "state", before: state.status, after: "running" });
  else if (state.health === "failing") {
    update.push({ path: "health", before: "failing", after: "passing" });
  }
  if (state.bootUnit === false) {
    update.push({ path: "boot unit", before: "missing", after: "installed" });
  }
  return update;
}

/** The fields a plan shows for a new container. */
export function containerDescribe(inputs: ContainerInputs): FieldChange[] {
  const fields: FieldChange[] = [];
  const add = (path: string, value: string | null): void => {
    if (value !== null) fields.push({ path, before: null, after: value });
  };
  add("image", inputs.image);
  add("command", showArgs(inputs.command));
  add("user", inputs.user);
  add("ports", showPorts(inputs.ports));
  for (const m of inputs.mounts) add(`mount ${m.target}`, showMount(m));
  if (inputs.certificate !== undefined) {
    add(
      `mount ${inputs.certificate.target}`,
      `certificate files ${inputs.certificate.dir} (read-only)`,
    );
  }
  for (const key of Object.keys(inputs.env).sort()) add(`env.${key}`, inputs.env[key] ?? "");
  for (const s of inputs.secrets) add(`secret ${s.target}`, SECRET_MASK);
  add("memory", inputs.memory === null ? null : formatSize(inputs.memory));
  add("cpus", inputs.cpus === null ? null : String(inputs.cpus));
  add("health", showHealth(inputs.health));
  return fields;
}
