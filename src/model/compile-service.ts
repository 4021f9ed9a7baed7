/**
 * The resources a service's container brings: the lab network on its host,
 * the container (after its datasets, its mounts and the services it depends
 * on) and, for a hostname, the HTTPS route (after the container passed its
 * health gate). Pure, like the rest of the model.
 */
import type { ResolvedLab, ResolvedService } from "../config/types.ts";
import type { Resource } from "../engine/resource.ts";
import { certificateFilesDir } from "./certificate.ts";
import {
  CONTAINER_TYPE,
  type ContainerInputs,
  containerAddress,
  containerName,
  NETWORK_TYPE,
  type NetworkInputs,
  networkAddress,
  networkName,
} from "./container.ts";
import { datasetAddress } from "./dataset.ts";
import { ROUTE_TYPE, type RouteInputs, routeAddress } from "./route.ts";

export interface ServiceProblem {
  readonly path: string;
  readonly message: string;
}

/** Digest of each secret the lab's secrets file holds, by name. */
export type SecretDigests = ReadonlyMap<string, string>;

export interface ServiceCompileInput {
  readonly lab: ResolvedLab;
  /** State root per host, once known. */
  readonly stateRoots: Readonly<Record<string, string | null>>;
  /** Missing: secrets are not checked (and digests are empty), as in `holt validate` without a key. */
  readonly secrets?: SecretDigests;
  /** "host\0hostname" → address of the ACME certificate its route uses (none: Caddy's local CA). */
  readonly certificates?: ReadonlyMap<string, string>;
}

/** The problem for a secret the config names that the lab's secrets file does not hold. */
export function missingSecret(path: string, name: string): ServiceProblem {
  return {
    path,
    message: `secret "${name}" is not in the lab's secrets file. Add it with \`holt secrets set ${name}\`, or fix the name (\`holt secrets list\` shows the names).`,
  };
}

export function compileServices(input: ServiceCompileInput): {
  resources: Resource[];
  problems: ServiceProblem[];
} {
  const { lab } = input;
  const resources: Resource[] = [];
  const problems: ServiceProblem[] = [];
  const network = networkName(lab.name);
  const hostsWithContainers = new Set<string>();

  for (const name of Object.keys(lab.services).sort()) {
    const service = lab.services[name];
    const container = service?.container;
    if (service === undefined || container === null || container === undefined) continue;
    const host = lab.hosts[service.host];
    if (host === undefined) continue;
    hostsWithContainers.add(host.name);
    const stateRoot = input.stateRoots[host.name] ?? null;

    const secrets = container.secrets.map((use) => {
      const digest = input.secrets?.get(use.secret);
      if (input.secrets !== undefined && digest === undefined) {
        problems.push(missingSecret(use.configPath, use.secret));
      }
      return { target: use.target, kind: use.kind, secret: use.secret, digest: digest ?? "" };
    });

    const mounts = [
      ...(stateRoot === null
        ? []
        : service.state.map((entry) => ({
            dataset: `${stateRoot}/${service.name}/${entry.name}`,
            target: entry.path,
            readOnly: false,
          }))),
      ...container.mounts.map((m) => ({
        dataset: m.dataset,
        target: m.target,
        readOnly: m.readOnly,
      })),
    ].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));

    const ports = [
      ...(container.port === null || container.hostPort === null
        ? []
        : [
            {
              hostAddress: "127.0.0.1",
              hostPort: container.hostPort,
              containerPort: container.port,
              protocol: "tcp" as const,
            },
          ]),
      ...container.ports.map((p) => ({ hostAddress: "0.0.0.0", ...p })),
    ].sort((a, b) => a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol));

    // The hostname's certificate files, mounted read-only where the service asked.
    const certAddress =
      container.hostname === null
        ? undefined
        : input.certificates?.get(`${host.name}\0${container.hostname}`);
    const certMount =
      service.certificatePath === null || certAddress === undefined
        ? undefined
        : {
            dir: certificateFilesDir(lab.name, certAddress.slice(certAddress.indexOf("/") + 1)),
            target: service.certificatePath,
          };
    const inputs: ContainerInputs = {
      name: containerName(service.name),
      service: service.name,
      image: container.image,
      command: container.command,
      env: container.env,
      secrets,
      user: container.user,
      network,
      aliases: [service.name],
      ports,
      mounts,
      memory: container.memory,
      cpus: container.cpus,
      health:
        container.health === null || container.hostPort === null
          ? null
          : { ...container.health, hostPort: container.hostPort },
      ...(certMount === undefined ? {} : { certificate: certMount }),
    };
    const address = containerAddress(host.name, service.name);
    resources.push({
      address,
      type: CONTAINER_TYPE,
      host: host.name,
      service: service.name,
      name: inputs.name,
      inputs,
      dependsOn: [
        networkAddress(host.name, network),
        ...mounts.map((m) => datasetAddress(host.name, m.dataset)),
        ...service.dependsOn.flatMap((dep) => dependencyAddress(lab, dep, input.stateRoots)),
        // Its certificate files exist before it starts.
        ...(certMount === undefined || certAddress === undefined ? [] : [certAddress]),
      ],
      configPath: `services.${service.name}`,
    });

    if (container.hostname !== null && container.hostPort !== null) {
      const certificate = input.certificates?.get(`${host.name}\0${container.hostname}`);
      const route: RouteInputs = {
        hostname: container.hostname,
        service: service.name,
        upstream: { address: "127.0.0.1", port: container.hostPort },
        tls:
          certificate === undefined
            ? "internal"
            : { certificate: certificate.slice(certificate.indexOf("/") + 1) },
        proxy: host.proxy,
      };
      resources.push({
        address: routeAddress(host.name, container.hostname),
        type: ROUTE_TYPE,
        host: host.name,
        service: service.name,
        name: container.hostname,
        inputs: route,
        dependsOn: certificate === undefined ? [address] : [address, certificate],
        configPath: `services.${service.name}.hostname`,
      });
    }
  }

  for (const host of [...hostsWithContainers].sort()) {
    const inputs: NetworkInputs = { name: network };
    resources.push({
      address: networkAddress(host, network),
      type: NETWORK_TYPE,
      host,
      name: network,
      inputs,
      dependsOn: [],
      configPath: `hosts.${host}`,
    });
  }
  return { resources, problems };
}

/** What "after service X" means: its container when it has one, else its datasets. */
function dependencyAddress(
  lab: ResolvedLab,
  name: string,
  stateRoots: Readonly<Record<string, string | null>>,
): string[] {
  const other: ResolvedService | undefined = lab.services[name];
  if (other === undefined) return [];
  if (other.container !== null) return [containerAddress(other.host, other.name)];
  const root = stateRoots[other.host] ?? null;
  if (root === null || other.state.length === 0) return [];
  return [datasetAddress(other.host, `${root}/${other.name}`)];
}
