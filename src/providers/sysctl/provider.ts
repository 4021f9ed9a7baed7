/**
 * Kernel settings on a host (`host.sysctl`). holt sets the live value under
 * /proc/sys and keeps it across reboots in its own file,
 * `/etc/sysctl.d/60-holt-<lab>.conf`, which is also how it knows which
 * settings it manages. Removing one drops it from that file and leaves the
 * live value until the next boot: the value before holt is not known to be
 * safe to put back while another lab or tool relies on it.
 *
 * A kernel without the setting, or a host that cannot change it (a container
 * with a read-only /proc/sys), reads as "unsupported" and is left alone.
 */
import type {
  FieldChange,
  Observed,
  OwnedResource,
  Provider,
  ProviderContext,
} from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { writeHostFile } from "../../hosts/host-file.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import { SYSCTL_TYPE, type SysctlInputs, sysctlAddress } from "../../model/sysctl.ts";

export interface SysctlState {
  /** The live value; null when the kernel lacks the setting or it cannot be written. */
  readonly value: string | null;
  /** The value in holt's sysctl.d file, or null when the file does not hold it. */
  readonly persisted: string | null;
}

const KEY = /^[a-z0-9_]+(\.[a-z0-9_-]+)+$/;

export function sysctlFile(lab: string): string {
  return `/etc/sysctl.d/60-holt-${lab}.conf`;
}

function procPath(key: string): string {
  if (!KEY.test(key)) throw new Error(`not a sysctl key: ${key}`);
  return `/proc/sys/${key.replaceAll(".", "/")}`;
}

/** `key = value` lines of a sysctl.d file; comments and blank lines skipped. */
export function parseSysctlFile(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    entries.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return entries;
}

export function renderSysctlFile(
  lab: string,
  entries: ReadonlyMap<string, { value: string; reason?: string }>,
): string {
  const lines = [
    `# Kernel settings holt keeps for lab "${lab}". holt rewrites this file; change holt.config.ts instead.`,
  ];
  for (const key of [...entries.keys()].sort()) {
    const entry = entries.get(key);
    if (entry === undefined) continue;
    if (entry.reason !== undefined) lines.push(`# ${entry.reason}`);
    lines.push(`${key} = ${entry.value}`);
  }
  return `${lines.join("\n")}\n`;
}

async function readFileEntries(exec: Exec, lab: string): Promise<Map<string, string>> {
  const result = await exec.run({ argv: ["cat", sysctlFile(lab)] });
  if (result.code === 0) return parseSysctlFile(result.stdout);
  if (/No such file/i.test(result.stderr)) return new Map();
  await runChecked(exec, { argv: ["cat", sysctlFile(lab)] });
  return new Map();
}

/** The live value, or null when the setting is absent or read-only here. */
async function readLive(exec: Exec, key: string): Promise<string | null> {
  const path = procPath(key);
  // One round trip: print the value only when the file exists and is writable.
  const result = await exec.run({
    argv: ["sh", "-c", 'test -w "$1" && cat "$1"', "sh", path],
  });
  return result.code === 0 ? result.stdout.trim() : null;
}

async function writeFile(
  ctx: ProviderContext,
  change: (entries: Map<string, { value: string; reason?: string }>) => void,
): Promise<void> {
  const current = await readFileEntries(ctx.exec, ctx.lab);
  const entries = new Map<string, { value: string; reason?: string }>(
    [...current].map(([k, v]) => [k, { value: v }]),
  );
  change(entries);
  const file = sysctlFile(ctx.lab);
  if (entries.size === 0) {
    await runChecked(ctx.exec, { argv: ["rm", "-f", file] });
    return;
  }
  await runChecked(ctx.exec, { argv: ["mkdir", "-p", "/etc/sysctl.d"] });
  await writeHostFile(ctx.exec, file, renderSysctlFile(ctx.lab, entries));
}

async function converge(ctx: ProviderContext, desired: Resource<SysctlInputs>): Promise<void> {
  const { key, value, reason } = desired.inputs;
  const live = await ctx.exec.run({
    argv: ["dd", `of=${procPath(key)}`, "conv=notrunc", "status=none"],
    stdin: `${value}\n`,
  });
  if (live.code !== 0) {
    throw new HoltError(
      "HOLT_E_EXEC",
      `Cannot set ${key} = ${value} on host "${ctx.host}" (${reason}): ${live.stderr.trim() || `exit ${live.code}`}. holt connects as a user who may not change kernel settings there; connect as root, or set it yourself with sysctl -w ${key}=${value}.`,
    );
  }
  // Written after the live value, so a crash between them is seen (and repaired) by the next plan.
  await writeFile(ctx, (entries) => entries.set(key, { value, reason }));
}

export function createSysctlProvider(): Provider<SysctlInputs, SysctlState> {
  return {
    type: SYSCTL_TYPE,
    noun: "kernel setting",
    holdsData: false,

    async read(ctx, desired) {
      const observed = new Map<string, Observed<SysctlState>>();
      const owned: OwnedResource<SysctlState>[] = [];
      const persisted = await readFileEntries(ctx.exec, ctx.lab);
      const keys = new Set([...desired.map((r) => r.inputs.key), ...persisted.keys()]);
      const live = new Map<string, string | null>();
      await Promise.all(
        [...keys]
          .filter((k) => KEY.test(k))
          .map(async (k) => live.set(k, await readLive(ctx.exec, k))),
      );
      const stateOf = (key: string): SysctlState => ({
        value: live.get(key) ?? null,
        persisted: persisted.get(key) ?? null,
      });
      // A setting is the lab's once its file holds it; until then it is to be created (shown
      // with "+"). One the host cannot change reads as present, so it plans nothing.
      for (const r of desired) {
        const state = stateOf(r.inputs.key);
        if (state.persisted === null && state.value !== null) continue;
        observed.set(r.address, { state, managed: true });
      }
      for (const key of persisted.keys()) {
        owned.push({
          address: sysctlAddress(ctx.host, key),
          type: SYSCTL_TYPE,
          host: ctx.host,
          name: key,
          dependsOn: [],
          observed: { state: stateOf(key), managed: true },
        });
      }
      return { observed, owned, problems: [] };
    },

    diff(desired, observed): FieldChange[] {
      const { value } = desired.inputs;
      // Unsupported here: nothing holt can do, and nothing to show as pending forever.
      if (observed.state.value === null) return [];
      const changes: FieldChange[] = [];
      if (observed.state.value !== value) {
        changes.push({ path: "value", before: observed.state.value, after: value });
      }
      if (observed.state.persisted !== value) {
        changes.push({ path: "at boot", before: observed.state.persisted, after: value });
      }
      return changes;
    },

    describe(desired): FieldChange[] {
      return [{ path: "value", before: null, after: desired.inputs.value }];
    },

    async create(ctx, desired) {
      await converge(ctx, desired);
    },

    async update(ctx, desired) {
      await converge(ctx, desired);
    },

    async delete(ctx, owned) {
      await writeFile(ctx, (entries) => entries.delete(owned.name));
    },

    async release(ctx, owned) {
      await writeFile(ctx, (entries) => entries.delete(owned.name));
    },

    async adopt(ctx, desired) {
      await converge(ctx, desired);
    },
  };
}
