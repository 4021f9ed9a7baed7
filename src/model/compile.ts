/**
 * The model: a pure, deterministic compile from a validated lab (plus host
 * facts, when known) to the desired resource graph. No I/O happens here, so
 * it is fast and unit-tested to the field.
 */
import type { ResolvedHost, ResolvedLab, ResolvedProxy } from "../config/types.ts";
import type { DesiredGraph, Resource } from "../engine/resource.ts";
import type { HostFacts } from "../hosts/facts.ts";
import { CERTIFICATE_TYPE } from "./certificate.ts";
import { compileEdge } from "./compile-edge.ts";
import { compileServices, type SecretDigests } from "./compile-service.ts";
import { DATASET_TYPE, type DatasetInputs, datasetAddress, poolOf } from "./dataset.ts";
import { DNS_RECORD_TYPE, EDGE_HOST, zoneRef } from "./dns-record.ts";
import { ROUTE_TYPE } from "./route.ts";
import { withProxySysctls } from "./sysctl.ts";
import { compileTunnel } from "./tunnel.ts";

export interface ModelProblem {
  readonly path: string;
  readonly message: string;
}

export interface CompileResult {
  readonly graph: DesiredGraph;
  readonly problems: readonly ModelProblem[];
}

/** Facts per host; a host without facts is compiled without host checks. */
export type LabFacts = Readonly<Record<string, HostFacts>>;

export interface CompileOptions {
  /** Digests of the secrets file's values; without it secrets are not checked. */
  readonly secrets?: SecretDigests;
  /** Detected addresses of hosts with `public: "auto"`. */
  readonly publicAddresses?: Readonly<Record<string, string>>;
  /** Why detecting them failed, for the problem it causes. */
  readonly publicAddressError?: string;
}

interface PendingDataset {
  name: string;
  service?: string;
  owner?: string;
  properties: Readonly<Record<string, string>>;
  configPath: string;
  /** Extra dependencies beyond the parent dataset (service ordering). */
  after: string[];
}

/** The state root a host uses, or null if none can be known yet. */
export function resolveStateRoot(host: ResolvedHost, facts: HostFacts | undefined): string | null {
  if (host.stateRoot !== null) return host.stateRoot;
  const first = host.datasets[0];
  if (first !== undefined) return `${poolOf(first.name)}/holt`;
  const pool = facts?.pools[0];
  return pool === undefined ? null : `${pool}/holt`;
}

export function compileLab(
  lab: ResolvedLab,
  facts: LabFacts = {},
  options: CompileOptions = {},
): CompileResult {
  const problems: ModelProblem[] = [];
  const resources: Resource[] = [];
  const stateRoots: Record<string, string | null> = {};
  const hostNames = Object.keys(lab.hosts).sort();
  const servicesByHost = new Map<string, string[]>();
  for (const service of Object.values(lab.services)) {
    const list = servicesByHost.get(service.host) ?? [];
    list.push(service.name);
    servicesByHost.set(service.host, list);
  }

  for (const hostName of hostNames) {
    const host = lab.hosts[hostName];
    if (host === undefined) continue;
    const hostFacts = facts[hostName];
    const pending: PendingDataset[] = host.datasets.map((d) => ({
      name: d.name,
      properties: d.properties,
      configPath: d.configPath,
      after: [],
    }));
    const statefulServices = (servicesByHost.get(hostName) ?? [])
      .sort()
      .map((name) => lab.services[name])
      .filter((s) => s !== undefined && s.state.length > 0);

    const stateRoot = resolveStateRoot(host, hostFacts);
    stateRoots[hostName] = stateRoot;
    const rootPath = `hosts.${hostName}.stateRoot`;
    if (statefulServices.length > 0) {
      if (stateRoot === null) {
        // Without facts the root is not known yet (it defaults to the host's first pool):
        // only a host known to have no pool is a problem.
        if (hostFacts !== undefined) {
          problems.push({
            path: rootPath,
            message: `host "${hostName}" has services with state but no pool to keep it in. Create a ZFS pool on the host, or set stateRoot to a dataset like "tank/holt".`,
          });
        }
      } else {
        if (!pending.some((d) => d.name === stateRoot)) {
          pending.push({ name: stateRoot, properties: {}, configPath: rootPath, after: [] });
        }
        for (const service of statefulServices) {
          if (service === undefined) continue;
          const serviceDataset = `${stateRoot}/${service.name}`;
          // validate.ts catches this for an explicit stateRoot; a defaulted one is known only here.
          const clash = host.datasets.find(
            (d) => d.name === serviceDataset || d.name.startsWith(`${serviceDataset}/`),
          );
          if (clash !== undefined) {
            problems.push({
              path: clash.configPath,
              message: `dataset "${clash.name}" is the state of service "${service.name}" (services.${service.name}.state, under the state root "${stateRoot}"), so holt already manages it. Declare it once: remove it here, or set its properties in the service's state entry.`,
            });
            continue;
          }
          const after = service.dependsOn
            .map((dep) => {
              const other = lab.services[dep];
              const otherHost = other === undefined ? undefined : lab.hosts[other.host];
              const otherRoot =
                otherHost === undefined ? null : resolveStateRoot(otherHost, facts[otherHost.name]);
              return other === undefined || other.state.length === 0 || otherRoot === null
                ? undefined
                : datasetAddress(other.host, `${otherRoot}/${other.name}`);
            })
            .filter((a): a is string => a !== undefined);
          pending.push({
            name: serviceDataset,
            service: service.name,
            properties: {},
            configPath: `services.${service.name}`,
            after,
          });
          const owner = service.container?.user ?? undefined;
          for (const entry of service.state) {
            pending.push({
              name: `${serviceDataset}/${entry.name}`,
              service: service.name,
              ...(owner === undefined ? {} : { owner }),
              properties: entry.properties,
              configPath: entry.configPath,
              after: [],
            });
          }
        }
      }
    }

    if (hostFacts !== undefined) {
      const pools = new Set(hostFacts.pools);
      const known =
        hostFacts.pools.length > 0 ? hostFacts.pools.map((p) => `"${p}"`).join(", ") : "none";
      for (const dataset of pending) {
        if (pools.has(poolOf(dataset.name))) continue;
        const isRoot = dataset.name === stateRoot && dataset.configPath === rootPath;
        if (dataset.service !== undefined && !isRoot) continue; // reported once, at the root
        problems.push({
          path: dataset.configPath,
          message: `dataset "${dataset.name}" is outside any pool host "${hostName}" has (pools: ${known}). Create pool "${poolOf(dataset.name)}" on the host first, or use one of its pools.`,
        });
      }
    }

    const names = new Set(pending.map((d) => d.name));
    for (const dataset of pending.sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      const parent = nearestDeclaredAncestor(dataset.name, names);
      const dependsOn = parent === undefined ? [] : [datasetAddress(hostName, parent)];
      const inputs: DatasetInputs = {
        name: dataset.name,
        properties: dataset.properties,
        ...(dataset.owner === undefined ? {} : { owner: dataset.owner }),
      };
      resources.push({
        address: datasetAddress(hostName, dataset.name),
        type: DATASET_TYPE,
        host: hostName,
        ...(dataset.service === undefined ? {} : { service: dataset.service }),
        name: dataset.name,
        inputs,
        dependsOn: [...dependsOn, ...dataset.after],
        configPath: dataset.configPath,
      });
    }
  }
  const edge = compileEdge({
    lab,
    ...(options.publicAddresses === undefined ? {} : { publicAddresses: options.publicAddresses }),
    ...(options.publicAddressError === undefined
      ? {}
      : { publicAddressError: options.publicAddressError }),
    ...(options.secrets === undefined ? {} : { secretNames: new Set(options.secrets.keys()) }),
  });
  const services = compileServices({
    lab,
    stateRoots,
    certificates: edge.certificates,
    ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
  });
  resources.push(...services.resources, ...edge.resources);
  problems.push(...services.problems, ...edge.problems);
  const tunnel = compileTunnel(lab, options.secrets, resources);
  resources.push(...tunnel.resources);
  problems.push(...tunnel.problems);
  // Only a Caddy away from its defaults needs telling; the route provider knows the defaults.
  const hostSettings: Record<string, Record<string, unknown>> = {};
  for (const host of hostNames) {
    const proxy = lab.hosts[host]?.proxy;
    // Certificates too: with none desired, the provider must still find the ones Caddy holds.
    if (proxy !== undefined && !isDefaultProxy(proxy)) {
      hostSettings[host] = { [ROUTE_TYPE]: proxy, [CERTIFICATE_TYPE]: proxy };
    }
  }
  // The DNS provider looks in every configured zone for records the lab still owns.
  if (lab.dns !== null) {
    hostSettings[EDGE_HOST] = { [DNS_RECORD_TYPE]: { zones: lab.dns.zones.map(zoneRef) } };
  }
  return {
    graph: {
      lab: lab.name,
      resources: withProxySysctls(resources),
      ...(Object.keys(hostSettings).length > 0 ? { hostSettings } : {}),
    },
    problems,
  };
}

function isDefaultProxy(proxy: ResolvedProxy): boolean {
  return (
    proxy.adminAddress === "127.0.0.1:2019" && proxy.httpsPort === 443 && proxy.httpPort === 80
  );
}

function nearestDeclaredAncestor(name: string, names: ReadonlySet<string>): string | undefined {
  let at = name.lastIndexOf("/");
  while (at > 0) {
    const candidate = name.slice(0, at);
    if (names.has(candidate)) return candidate;
    at = candidate.lastIndexOf("/");
  }
  return undefined;
}
