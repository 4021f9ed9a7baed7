/**
 * The lab's Podman network on a host. Its containers join it with their
 * service name as an alias, and Podman's DNS (aardvark-dns, on by default for
 * networks other than the built-in `podman`) lets them find each other by
 * that name. Owned when labelled `holt.lab=<lab>`; Podman cannot add a label
 * later, so the label is set by the create itself.
 */
import type {
  FieldChange,
  Observed,
  OwnedResource,
  Provider,
  ProviderContext,
} from "../../engine/provider.ts";
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import { LABELS, NETWORK_TYPE, type NetworkInputs, networkAddress } from "../../model/container.ts";
import { podmanMissing } from "./host.ts";
import { type PodmanNetwork, parseNetworks } from "./podman-json.ts";

export interface NetworkState {
  /** Its `holt.lab` label, or null. */
  readonly owner: string | null;
  /** Whether containers on it resolve each other's names. */
  readonly dnsEnabled: boolean;
}

async function listNetworks(exec: Exec): Promise<PodmanNetwork[] | null> {
  const argv = ["podman", "network", "ls", "--format", "json"];
  const result = await exec.run({ argv });
  if (result.code === 127) return null;
  if (result.code !== 0) await runChecked(exec, { argv });
  return parseNetworks(result.stdout, exec.target);
}

function observedOf(network: PodmanNetwork, lab: string): Observed<NetworkState> {
  const owner = network.labels[LABELS.lab] ?? null;
  return { state: { owner, dnsEnabled: network.dnsEnabled }, managed: owner === lab };
}

/** Names of the containers attached to a network. */
async function containersOn(exec: Exec, name: string): Promise<string[]> {
  const out = await runChecked(exec, {
    argv: ["podman", "ps", "--all", "--filter", `network=${name}`, "--format", "{{.Names}}"],
  });
  return out.stdout.split("\n").filter((n) => n !== "");
}

async function remove(ctx: ProviderContext, name: string): Promise<void> {
  const users = await containersOn(ctx.exec, name);
  if (users.length > 0) {
    throw new HoltError(
      "HOLT_E_EXEC",
      `Cannot remove network ${name} on host "${ctx.host}": containers ${users.join(", ")} still use it. holt removes its own containers first; remove the others (or connect them elsewhere), then run again.`,
    );
  }
  const result = await ctx.exec.run({ argv: ["podman", "network", "rm", name] });
  if (result.code !== 0 && !/not found|no such network/i.test(result.stderr)) {
    await runChecked(ctx.exec, { argv: ["podman", "network", "rm", name] });
  }
}

async function create(ctx: ProviderContext, name: string): Promise<void> {
  await runChecked(ctx.exec, {
    argv: ["podman", "network", "create", "--label", `${LABELS.lab}=${ctx.lab}`, name],
  });
}

export function createPodmanNetworkProvider(): Provider<NetworkInputs, NetworkState> {
  return {
    type: NETWORK_TYPE,
    noun: "network",
    holdsData: false,

    async read(ctx, desired) {
      const observed = new Map<string, Observed<NetworkState>>();
      const owned: OwnedResource<NetworkState>[] = [];
      const networks = await listNetworks(ctx.exec);
      if (networks === null) {
        if (desired.length === 0) return { observed, owned, problems: [] };
        throw podmanMissing(ctx.host, ctx.exec.target, "this lab runs containers on");
      }
      const byName = new Map(networks.map((n) => [n.name, n]));
      for (const r of desired) {
        const n = byName.get(r.inputs.name);
        if (n !== undefined) observed.set(r.address, observedOf(n, ctx.lab));
      }
      for (const n of networks) {
        const o = observedOf(n, ctx.lab);
        if (!o.managed) continue;
        owned.push({
          address: networkAddress(ctx.host, n.name),
          type: NETWORK_TYPE,
          host: ctx.host,
          name: n.name,
          dependsOn: [],
          observed: o,
        });
      }
      return { observed, owned, problems: [] };
    },

    diff(_desired, observed): FieldChange[] {
      if (observed.state.dnsEnabled) return [];
      return [{ path: "dns", before: "off", after: "on", forcesReplace: true }];
    },

    describe(): FieldChange[] {
      return [{ path: "dns", before: null, after: "on" }];
    },

    async create(ctx, desired) {
      await create(ctx, desired.inputs.name);
    },

    // Nothing about a network changes in place: every difference is a replace.
    async update() {},

    async delete(ctx, owned) {
      await remove(ctx, owned.name);
    },

    // Podman cannot drop a label; a network holds no data, so release removes it.
    async release(ctx, owned) {
      await remove(ctx, owned.name);
    },

    /**
     * Takes over a network made outside holt by creating it again with holt's
     * label, which Podman allows only while no container uses it.
     */
    async adopt(ctx, desired, observed) {
      const name = desired.inputs.name;
      if (observed.state.owner !== null && observed.state.owner !== ctx.lab) {
        throw new HoltError(
          "HOLT_E_ADOPT",
          `Network ${name} on host "${ctx.host}" belongs to lab "${observed.state.owner}".`,
        );
      }
      const users = await containersOn(ctx.exec, name);
      if (users.length > 0) {
        throw new HoltError(
          "HOLT_E_ADOPT",
          `Cannot adopt network ${name} on host "${ctx.host}": Podman cannot relabel a network, and containers ${users.join(", ")} use it, so it cannot be created again. Remove those containers (holt creates its own), then run holt adopt again.`,
        );
      }
      await remove(ctx, name);
      await create(ctx, name);
    },
  };
}
