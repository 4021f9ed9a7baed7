/**
 * The container resources as the model emits them: one Podman network per
 * lab and host, one container per service. Inputs are plain JSON and hold no
 * secret value: a secret appears as its name and a keyed digest, so a plan
 * (and a saved plan file) can show that a secret changed without showing it.
 */

export const CONTAINER_TYPE = "podman.container";
export const NETWORK_TYPE = "podman.network";

/** Labels holt puts on containers and networks it manages. */
export const LABELS = {
  /** The lab that owns it. */
  lab: "holt.lab",
  /** The service it runs. */
  service: "holt.service",
  /** The spec it was created from: stable JSON of its ContainerInputs. */
  spec: "holt.spec",
} as const;

export interface PublishedPort {
  /** "127.0.0.1" for the proxy's HTTP port; "0.0.0.0" for declared raw ports. */
  readonly hostAddress: string;
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: "tcp" | "udp";
}

export interface ContainerMount {
  /** Full ZFS dataset name; its mountpoint is looked up on the host when the container is created. */
  readonly dataset: string;
  /** Path inside the container. */
  readonly target: string;
  readonly readOnly: boolean;
}

export interface ContainerSecret {
  /** An environment variable name, or an absolute file path inside the container (mode 0400). */
  readonly target: string;
  readonly kind: "env" | "file";
  /** The secret's name in the lab's secrets file. */
  readonly secret: string;
  /** Keyed digest of the value (never the value): changes when the value changes. */
  readonly digest: string;
}

export interface HealthCheck {
  /** HTTP path probed on the service's published loopback port; 2xx and 3xx pass. */
  readonly http: string;
  /** The loopback port the probe connects to. */
  readonly hostPort: number;
  /** Time between probes; the start gate probes at least every second. */
  readonly intervalMs: number;
  /** How long one probe waits for an answer. */
  readonly timeoutMs: number;
  /**
   * Failures in a row before the service counts as unhealthy. The gate after
   * a create or start waits up to 15 s plus `intervalMs` × `retries` for the
   * first passing probe.
   */
  readonly retries: number;
}

export interface ContainerInputs {
  /** Container name: `holt-<service>`. */
  readonly name: string;
  readonly service: string;
  /** Image reference as written in the config. */
  readonly image: string;
  /** Arguments after the image; `null` keeps the image's own command. */
  readonly command: readonly string[] | null;
  readonly env: Readonly<Record<string, string>>;
  /** Sorted by target. */
  readonly secrets: readonly ContainerSecret[];
  /**
   * "uid" or "uid:gid" the container runs as (numeric, so file secrets can be
   * given to it); `null` keeps the image's user.
   */
  readonly user: string | null;
  /** The lab network (a `podman.network` name) on the same host. */
  readonly network: string;
  /** Names other services reach it by on the network: the service name. */
  readonly aliases: readonly string[];
  /** Sorted by host port, then protocol. */
  readonly ports: readonly PublishedPort[];
  /** Sorted by target. */
  readonly mounts: readonly ContainerMount[];
  /** Memory limit in bytes; `null` for none. */
  readonly memory: number | null;
  /** CPU limit (cores, may be fractional); `null` for none. */
  readonly cpus: number | null;
  readonly health: HealthCheck | null;
  /** The hostname's ACME certificate files: a host folder mounted read-only at `target`. */
  readonly certificate?: { readonly dir: string; readonly target: string };
}

export interface NetworkInputs {
  readonly name: string;
}

export function containerName(service: string): string {
  return `holt-${service}`;
}

/** A Podman network name for a lab: `holt-<lab>`, with characters Podman refuses replaced. */
export function networkName(lab: string): string {
  return `holt-${lab.replace(/[^a-zA-Z0-9_.-]/g, "-")}`;
}

export function containerAddress(host: string, service: string): string {
  return `${CONTAINER_TYPE}:${host}/${containerName(service)}`;
}

export function networkAddress(host: string, name: string): string {
  return `${NETWORK_TYPE}:${host}/${name}`;
}
