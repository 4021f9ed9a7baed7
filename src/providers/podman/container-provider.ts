/**
 * Podman containers, one per service. Ownership lives on the container: the
 * `holt.lab` label says which lab owns it and `holt.spec` records what it was
 * created from, so holt needs no database to know what runs. Containers hold
 * no data (that lives in datasets), so any change replaces them, and every
 * create or start passes the health gate before it counts as done.
 */
import type { Observed, OwnedResource, Provider, ProviderContext } from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import {
  CONTAINER_TYPE,
  type ContainerInputs,
  containerAddress,
  LABELS,
  networkAddress,
} from "../../model/container.ts";
import { stableJson } from "../../util/stable-json.ts";
import type { ContainerState } from "./container-state.ts";
import { envSecretWarning } from "./env-secrets.ts";
import { containerDescribe, containerDiff } from "./fields.ts";
import {
  type Clock,
  DEFAULT_START_ALLOWANCE_MS,
  DEFAULT_STEADY_MS,
  type GateOptions,
  healthGate,
  probe,
  SYSTEM_CLOCK,
} from "./health.ts";
import { hasSystemd, podmanMissing, podmanVersion } from "./host.ts";
import { resolveMountpoints } from "./host-files.ts";
import { type PsContainer, parseContainerStatus, parsePs } from "./podman-json.ts";
import { badSecretTarget, type RunPlan, runArgv } from "./run-args.ts";
import { ensureSecrets, removeServiceSecrets } from "./secrets.ts";
import { decodeSpec } from "./spec.ts";
import {
  installBootUnit,
  installedBootUnits,
  removeBootUnit,
  renderBootUnit,
  serviceName,
} from "./systemd.ts";

export type { ContainerState } from "./container-state.ts";

export interface PodmanContainerOptions {
  /** Time a service gets to start before its health check must pass, on top of interval × retries. @default 15000 */
  readonly startAllowanceMs?: number;
  /** How long a container without a health check must be seen running. @default 1000 */
  readonly steadyMs?: number;
  /**
   * Seconds Podman waits after SIGTERM before it kills a container holt stops
   * or removes. Long enough for a database to shut down cleanly. @default 10
   */
  readonly stopTimeoutSeconds?: number;
  /** For tests: time and sleeping. @default the system clock */
  readonly clock?: Clock;
}

const DEFAULT_STOP_TIMEOUT_SECONDS = 10;
/** Pulling a large image over a slow link takes a while. */
const PULL_TIMEOUT_MS = 30 * 60_000;

/** `podman ps -a` as JSON; null when Podman is not installed. One retry if a container vanished mid-listing. */
async function listContainers(exec: Exec): Promise<PsContainer[] | null> {
  const argv = ["podman", "ps", "--all", "--format", "json"];
  let result = await exec.run({ argv });
  if (result.code === 127) return null;
  if (result.code !== 0 && /no such/i.test(result.stderr)) result = await exec.run({ argv });
  if (result.code !== 0) result = await runChecked(exec, { argv });
  return parsePs(result.stdout, exec.target);
}

function serviceOf(c: PsContainer): string {
  return c.labels[LABELS.service] ?? c.name.replace(/^holt-/, "");
}

function stateOf(
  c: PsContainer,
  health: ContainerState["health"],
  bootUnit: boolean | null,
): ContainerState {
  return {
    spec: decodeSpec(c.labels[LABELS.spec]),
    owner: c.labels[LABELS.lab] ?? null,
    image: c.image,
    status: c.state,
    running: c.state === "running",
    health,
    bootUnit,
  };
}

function infoOf(c: PsContainer, healthDetail: string | undefined): Record<string, string> {
  const info: Record<string, string> = { imageId: c.imageId.slice(0, 12) };
  if (c.created !== null) info.created = new Date(c.created * 1000).toISOString();
  if (healthDetail !== undefined) info.health = healthDetail;
  return info;
}

export function createPodmanContainerProvider(
  options: PodmanContainerOptions = {},
): Provider<ContainerInputs, ContainerState> {
  const stopTimeout = String(options.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS);
  const gate: GateOptions = {
    startAllowanceMs: options.startAllowanceMs ?? DEFAULT_START_ALLOWANCE_MS,
    steadyMs: options.steadyMs ?? DEFAULT_STEADY_MS,
    stopTimeoutSeconds: Number(stopTimeout),
    clock: options.clock ?? SYSTEM_CLOCK,
  };

  /** Removes a container and everything holt made for it; safe when parts are gone already. */
  async function remove(ctx: ProviderContext, name: string, service: string): Promise<void> {
    if (await hasSystemd(ctx.exec)) await removeBootUnit(ctx.exec, name);
    await runChecked(ctx.exec, {
      argv: ["podman", "rm", "--force", "--ignore", "-t", stopTimeout, name],
    });
    await removeServiceSecrets(ctx.exec, ctx.lab, service);
  }

  async function ensureImage(ctx: ProviderContext, inputs: ContainerInputs): Promise<void> {
    const exists = await ctx.exec.run({ argv: ["podman", "image", "exists", inputs.image] });
    if (exists.code === 0) return;
    const pulled = await ctx.exec.run({
      argv: ["podman", "pull", "--quiet", inputs.image],
      timeoutMs: PULL_TIMEOUT_MS,
    });
    if (pulled.code === 0) return;
    const lines = pulled.stderr.split("\n").filter((l) => l.trim() !== "");
    throw new HoltError(
      "HOLT_E_EXEC",
      `Image "${inputs.image}" for service "${inputs.service}" is not on host "${ctx.host}" and could not be pulled. Check the image name and tag, and that the host can reach its registry (try \`podman pull ${inputs.image}\` there).`,
      { details: lines.slice(-5) },
    );
  }

  /** A container by that name that holt may replace: gone, or this lab's (a leftover of a crash). */
  async function clearName(ctx: ProviderContext, inputs: ContainerInputs): Promise<void> {
    const found = await ctx.exec.run({ argv: ["podman", "container", "inspect", inputs.name] });
    if (found.code !== 0) return;
    const owner = parseContainerStatus(found.stdout, ctx.exec.target)?.labels[LABELS.lab];
    if (owner !== ctx.lab) {
      throw new HoltError(
        "HOLT_E_EXEC",
        `A container named ${inputs.name} already exists on host "${ctx.host}" and is not this lab's${owner === undefined ? "" : ` (it belongs to lab "${owner}")`}. Remove or rename it, or take it over with \`holt adopt ${containerAddress(ctx.host, inputs.service)}\`.`,
      );
    }
    await runChecked(ctx.exec, {
      argv: ["podman", "rm", "--force", "--ignore", "-t", stopTimeout, inputs.name],
    });
  }

  async function secretValuesOf(ctx: ProviderContext, inputs: ContainerInputs): Promise<string[]> {
    const values: string[] = [];
    for (const s of inputs.secrets) {
      try {
        if (ctx.secretValue !== undefined) values.push(ctx.secretValue(s.secret));
      } catch {
        // Only used to hide values in log excerpts; a missing one cannot appear there.
      }
    }
    return values;
  }

  async function ensureBootUnit(ctx: ProviderContext, plan: RunPlan): Promise<void> {
    if (!(await hasSystemd(ctx.exec))) return;
    const unit = await renderBootUnit(ctx.exec, plan, await podmanVersion(ctx.exec));
    await installBootUnit(ctx.exec, unit);
  }

  async function create(ctx: ProviderContext, desired: Resource<ContainerInputs>): Promise<void> {
    const inputs = desired.inputs;
    await ensureImage(ctx, inputs);
    const mountpoints = await resolveMountpoints(ctx.exec, ctx.host, inputs);
    const secrets = await ensureSecrets(ctx, inputs);
    await clearName(ctx, inputs);
    const plan: RunPlan = { inputs, lab: ctx.lab, mountpoints };
    await runChecked(ctx.exec, { argv: runArgv(plan) });
    // Secrets of earlier versions of this service are no longer used by anything.
    await removeServiceSecrets(ctx.exec, ctx.lab, inputs.service, secrets.names);
    await healthGate(ctx, inputs, gate, secrets.values);
    await ensureBootUnit(ctx, plan);
  }

  return {
    type: CONTAINER_TYPE,
    noun: "container",
    holdsData: false,

    async read(ctx, desired) {
      const observed = new Map<string, Observed<ContainerState>>();
      const owned: OwnedResource<ContainerState>[] = [];
      const problems = desired.flatMap((r) =>
        r.inputs.secrets.flatMap((s) => {
          const why = badSecretTarget(s);
          return why === null
            ? []
            : [
                {
                  address: r.address,
                  path: `${r.configPath}.secrets["${s.target}"]`,
                  message: `${why}.`,
                },
              ];
        }),
      );
      // Probe the declared health checks while `podman ps` runs: most containers
      // still run with the check they declare. A result is used only for a running
      // container of this lab whose spec has the same check; others are probed again.
      const early = new Map(
        desired.flatMap((r) => {
          const health = r.inputs.health;
          if (health === null) return [];
          const result = probe(ctx.exec, health).catch(() => null);
          return [[r.inputs.name, { key: stableJson(health), result }] as const];
        }),
      );
      const containers = await listContainers(ctx.exec);
      if (containers === null) {
        if (desired.length === 0) return { observed, owned, problems };
        const services = desired.map((r) => r.inputs.service).join(", ");
        throw podmanMissing(ctx.host, ctx.exec.target, `runs services ${services}`);
      }
      // Only asked when a service has an environment secret: the version is what decides.
      const usesEnvSecrets = desired.some((r) => r.inputs.secrets.some((s) => s.kind === "env"));
      const warning = usesEnvSecrets
        ? envSecretWarning(
            ctx.host,
            await podmanVersion(ctx.exec),
            desired.map((r) => r.inputs),
          )
        : null;
      const warnings = warning === null ? [] : [warning];
      const byName = new Map(containers.map((c) => [c.name, c]));
      const ours = (c: PsContainer): boolean => c.labels[LABELS.lab] === ctx.lab;

      // Health probes of running containers of this lab, all at once.
      const probes = new Map<string, Promise<{ passing: boolean; detail: string }>>();
      for (const r of desired) {
        const c = byName.get(r.inputs.name);
        const health = c === undefined ? null : decodeSpec(c.labels[LABELS.spec])?.health;
        if (c !== undefined && ours(c) && c.state === "running" && health) {
          const guess = early.get(c.name);
          probes.set(
            c.name,
            guess !== undefined && guess.key === stableJson(health)
              ? guess.result.then((r) => r ?? probe(ctx.exec, health))
              : probe(ctx.exec, health),
          );
        }
      }
      const systemd = containers.some(ours) ? await hasSystemd(ctx.exec) : false;
      const units = systemd ? await installedBootUnits(ctx.exec) : null;
      const results = new Map<string, { passing: boolean; detail: string }>();
      await Promise.all(
        [...probes].map(async ([name, p]) => {
          results.set(name, await p);
        }),
      );

      const observe = (c: PsContainer): Observed<ContainerState> => {
        const result = results.get(c.name);
        const health = result === undefined ? null : result.passing ? "passing" : "failing";
        const bootUnit = units === null || !ours(c) ? null : units.has(c.name);
        return {
          state: stateOf(c, health, bootUnit),
          managed: ours(c),
          info: infoOf(c, result?.detail),
        };
      };
      for (const r of desired) {
        const c = byName.get(r.inputs.name);
        if (c !== undefined) observed.set(r.address, observe(c));
      }
      for (const c of containers) {
        if (!ours(c)) continue;
        const o = observe(c);
        const service = serviceOf(c);
        owned.push({
          address: containerAddress(ctx.host, service),
          type: CONTAINER_TYPE,
          host: ctx.host,
          service,
          name: c.name,
          // Removed before its network, which cannot go while a container uses it.
          dependsOn: o.state.spec === null ? [] : [networkAddress(ctx.host, o.state.spec.network)],
          observed: o,
        });
      }
      return { observed, owned, problems, warnings };
    },

    diff(desired, observed) {
      return containerDiff(desired.inputs, observed);
    },

    describe(desired) {
      return containerDescribe(desired.inputs);
    },

    create,

    async update(ctx, desired, observed) {
      const inputs = desired.inputs;
      const state = observed.state;
      const restart = !state.running || state.health === "failing";
      if (restart) {
        if (state.status === "paused") {
          await runChecked(ctx.exec, { argv: ["podman", "unpause", inputs.name] });
        } else if (state.bootUnit === true) {
          // Its unit may run it (after a reboot, with --rm): a podman stop would remove
          // it and systemd would start it again behind holt's back. The unit creates it
          // afresh from the same spec instead.
          await runChecked(ctx.exec, { argv: ["systemctl", "restart", serviceName(inputs.name)] });
        } else {
          // stop + start, not restart: start resets the restart count the gate watches.
          if (state.running) {
            await runChecked(ctx.exec, {
              argv: ["podman", "stop", "-t", stopTimeout, inputs.name],
            });
          }
          await runChecked(ctx.exec, { argv: ["podman", "start", inputs.name] });
        }
        await healthGate(ctx, inputs, gate, await secretValuesOf(ctx, inputs));
      }
      if (state.bootUnit === false) {
        const mountpoints = await resolveMountpoints(ctx.exec, ctx.host, inputs);
        await ensureBootUnit(ctx, { inputs, lab: ctx.lab, mountpoints });
      }
    },

    async delete(ctx, owned) {
      await remove(ctx, owned.name, owned.service ?? owned.name.replace(/^holt-/, ""));
    },

    // Containers hold no data and Podman cannot drop a label, so releasing one
    // removes it like a delete. The plan never asks: holdsData is false.
    async release(ctx, owned) {
      await remove(ctx, owned.name, owned.service ?? owned.name.replace(/^holt-/, ""));
    },

    /**
     * Replaces a container made outside holt (same name) with holt's. Podman
     * cannot relabel a container, so adopting means removing the old one: its
     * named volumes stay, and the data holt mounts lives in datasets anyway.
     * Only `holt adopt` calls this, after the user confirmed.
     */
    async adopt(ctx, desired, observed) {
      const owner = observed.state.owner;
      if (owner !== null && owner !== ctx.lab) {
        throw new HoltError(
          "HOLT_E_ADOPT",
          `Container ${desired.inputs.name} on host "${ctx.host}" belongs to lab "${owner}". Remove it from that lab's config (its next apply removes it), then apply this one.`,
        );
      }
      await runChecked(ctx.exec, {
        argv: ["podman", "rm", "--force", "--ignore", "-t", stopTimeout, desired.inputs.name],
      });
      await create(ctx, desired);
    },
  };
}
