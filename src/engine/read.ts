/** Reads the actual state of every host through every provider, in parallel per host. */
import type { Exec } from "../hosts/exec.ts";
import { EDGE_HOST } from "../util/edge-host.ts";
import type { PlanWarning } from "./plan-types.ts";
import type { InputProblem, Observed, OwnedResource, Provider, ProviderStore } from "./provider.ts";
import type { DesiredGraph, Resource } from "./resource.ts";

export interface Actual {
  /** Desired resources that exist, by address. */
  readonly observed: ReadonlyMap<string, Observed>;
  /** Everything the lab owns, on every host. */
  readonly owned: readonly OwnedResource[];
  readonly problems: readonly InputProblem[];
  /** Each provider's warnings, by host, each once. */
  readonly warnings?: readonly PlanWarning[];
}

export interface ReadOptions {
  readonly providers: readonly Provider[];
  /** Every host of the lab: owned resources are looked for even where nothing is desired. */
  readonly hosts: readonly string[];
  readonly execFor: (host: string) => Promise<Exec>;
  /** Credentials for providers that need them to read (ProviderContext.secretValue). */
  readonly secretValue?: (name: string) => string;
  readonly store?: ProviderStore;
}

export async function readActual(graph: DesiredGraph, options: ReadOptions): Promise<Actual> {
  const observed = new Map<string, Observed>();
  const owned: OwnedResource[] = [];
  const problems: InputProblem[] = [];
  const warnings: PlanWarning[] = [];
  await Promise.all(
    options.hosts.map(async (host) => {
      const exec = await options.execFor(host);
      // Providers read one host at once; results are merged in provider order.
      const scope = host === EDGE_HOST ? "edge" : "host";
      const results = await Promise.all(
        options.providers
          .filter((provider) => (provider.scope ?? "host") === scope)
          .map((provider) => {
            const desired = graph.resources.filter(
              (r): r is Resource => r.host === host && r.type === provider.type,
            );
            const settings = graph.hostSettings?.[host]?.[provider.type];
            return provider.read(
              {
                host,
                exec,
                lab: graph.lab,
                ...(settings === undefined ? {} : { settings }),
                ...(options.secretValue === undefined ? {} : { secretValue: options.secretValue }),
                ...(options.store === undefined ? {} : { store: options.store }),
              },
              desired,
            );
          }),
      );
      for (const result of results) {
        for (const [address, o] of result.observed) observed.set(address, o);
        owned.push(...result.owned);
        problems.push(...result.problems);
        for (const message of result.warnings ?? []) {
          if (!warnings.some((w) => w.host === host && w.message === message)) {
            warnings.push({ host, message });
          }
        }
      }
    }),
  );
  owned.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  warnings.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return { observed, owned, problems, warnings };
}
