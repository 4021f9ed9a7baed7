/**
 * The Cloudflare Tunnel: its remote configuration (`cloudflare.tunnel`, one
 * ingress rule per public hostname reached through it) on the edge
 * pseudo-host, and the `cloudflared` container that runs it on the host the
 * config names, with the tunnel's token as a secret.
 */
import type { ResolvedLab } from "../config/types.ts";
import type { Resource } from "../engine/resource.ts";
import { EDGE_HOST } from "../util/edge-host.ts";
import { missingSecret } from "./compile-service.ts";
import {
  CONTAINER_TYPE,
  type ContainerInputs,
  containerAddress,
  containerName,
  NETWORK_TYPE,
  networkAddress,
  networkName,
} from "./container.ts";

export const TUNNEL_TYPE = "cloudflare.tunnel";
/** The service name of the tunnel's container: `holt-cloudflared`. */
export const TUNNEL_SERVICE = "cloudflared";

export interface TunnelIngress {
  readonly hostname: string;
  /** Where cloudflared sends requests: the service on the lab network, or another host's Caddy. */
  readonly service: string;
  readonly originServerName?: string;
  readonly noTLSVerify?: boolean;
}

export interface TunnelInputs {
  readonly accountId: string;
  readonly tunnelId: string;
  /** Name of the secret holding an API token with Cloudflare Tunnel: Edit. */
  readonly apiTokenSecret: string;
  /** Sorted by hostname. */
  readonly ingress: readonly TunnelIngress[];
}

export function tunnelAddress(tunnelId: string): string {
  return `${TUNNEL_TYPE}:${EDGE_HOST}/${tunnelId}`;
}

/** The tunnel's configuration and container, or nothing when the lab has no tunnel. */
export function compileTunnel(
  lab: ResolvedLab,
  secrets: ReadonlyMap<string, string> | undefined,
  existing: readonly Resource[],
): { resources: Resource[]; problems: { path: string; message: string }[] } {
  const tunnel = lab.tunnel;
  if (tunnel === null) return { resources: [], problems: [] };
  const problems: { path: string; message: string }[] = [];
  if (lab.services[TUNNEL_SERVICE] !== undefined) {
    problems.push({
      path: `services.${TUNNEL_SERVICE}`,
      message: `"${TUNNEL_SERVICE}" is the name of the tunnel's own container (edge.tunnel). Rename this service.`,
    });
  }
  for (const [field, name] of [
    ["token", tunnel.tokenSecret],
    ["apiToken", tunnel.apiTokenSecret],
  ] as const) {
    if (secrets !== undefined && !secrets.has(name)) {
      problems.push(missingSecret(`edge.tunnel.${field}`, name));
    }
  }
  const network = networkName(lab.name);
  const ingress: TunnelIngress[] = [];
  const containers: string[] = [];
  for (const service of Object.values(lab.services)) {
    const c = service.container;
    if (service.expose.kind !== "public" || service.expose.via !== "tunnel") continue;
    if (c === null || c.hostname === null || c.port === null) continue;
    const host = lab.hosts[service.host];
    if (host === undefined) continue;
    if (service.host === tunnel.host) {
      // Same host: straight to the container over the lab network.
      ingress.push({ hostname: c.hostname, service: `http://${service.name}:${c.port}` });
      containers.push(containerAddress(service.host, service.name));
    } else {
      ingress.push({
        hostname: c.hostname,
        service: `https://${host.address}:${host.proxy.httpsPort}`,
        originServerName: c.hostname,
        ...(lab.acme === null ? { noTLSVerify: true } : {}),
      });
    }
  }
  ingress.sort((a, b) => (a.hostname < b.hostname ? -1 : 1));
  const inputs: ContainerInputs = {
    name: containerName(TUNNEL_SERVICE),
    service: TUNNEL_SERVICE,
    image: tunnel.image,
    // The image's entrypoint is cloudflared; it reads the token from TUNNEL_TOKEN.
    command: ["tunnel", "--no-autoupdate", "run"],
    env: {},
    secrets: [
      {
        target: "TUNNEL_TOKEN",
        kind: "env",
        secret: tunnel.tokenSecret,
        digest: secrets?.get(tunnel.tokenSecret) ?? "",
      },
    ],
    user: null,
    network,
    aliases: [TUNNEL_SERVICE],
    ports: [],
    mounts: [],
    memory: null,
    cpus: null,
    health: null,
  };
  const resources: Resource[] = [
    {
      address: tunnelAddress(tunnel.tunnelId),
      type: TUNNEL_TYPE,
      host: EDGE_HOST,
      name: tunnel.tunnelId,
      inputs: {
        accountId: tunnel.accountId,
        tunnelId: tunnel.tunnelId,
        apiTokenSecret: tunnel.apiTokenSecret,
        ingress,
      } satisfies TunnelInputs,
      dependsOn: [],
      configPath: "edge.tunnel",
    },
    {
      address: containerAddress(tunnel.host, TUNNEL_SERVICE),
      type: CONTAINER_TYPE,
      host: tunnel.host,
      service: TUNNEL_SERVICE,
      name: inputs.name,
      inputs,
      // After the services it forwards to, so it never serves a half-started lab.
      dependsOn: [networkAddress(tunnel.host, network), ...containers],
      configPath: "edge.tunnel",
    },
  ];
  const networkNeeded = networkAddress(tunnel.host, network);
  if (!existing.some((r) => r.address === networkNeeded)) {
    resources.push({
      address: networkNeeded,
      type: NETWORK_TYPE,
      host: tunnel.host,
      name: network,
      inputs: { name: network },
      dependsOn: [],
      configPath: `hosts.${tunnel.host}`,
    });
  }
  return { resources, problems };
}
