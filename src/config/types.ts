/**
 * The shape of holt.config.ts. User types are all-optional where a default
 * exists (documented with @default); `Resolved*` types have every default
 * filled in and are what the model reads.
 */
import type { DatasetProperties } from "./dataset-properties.ts";
import type { SecretRef } from "./secret.ts";

/** How holt reaches a host. */
export type UserConnect =
  | "local"
  | {
      ssh: {
        /** @default "root" */
        user?: string;
        /** @default 22 */
        port?: number;
        /** Private key to log in with. @default "~/.ssh/id_ed25519" */
        identityFile?: string;
        /** File that must list the host's key. @default "~/.ssh/known_hosts" */
        knownHostsFile?: string;
      };
    };

/** A dataset to create and keep as declared. */
export interface UserDataset extends DatasetProperties {
  /**
   * Any other properties, by their ZFS names: user properties such as
   * `"com.example:owner": "ciaran"`, or native ones in ZFS's own notation.
   */
  properties?: Record<string, string>;
}

/** One machine of the lab. */
export interface UserHost {
  /** Where the host is reached (IP or DNS name). @default "127.0.0.1" for a local host */
  address?: string;
  /** @default "local" */
  connect?: UserConnect;
  /**
   * Parent of the service datasets.
   * @default "<pool of the first declared dataset>/holt", else "<first pool of the host>/holt"
   */
  stateRoot?: string;
  /**
   * Datasets by their full ZFS name.
   * @example { "tank/media": { recordsize: "1M", compression: "on" } }
   */
  datasets?: Record<string, UserDataset>;
  /** The host's Caddy, which serves the services' hostnames over HTTPS. */
  proxy?: UserProxy;
  /** The host's address on a tailnet (Tailscale, Headscale, Netbird), for services with `privateVia: "tailnet"`. */
  tailnet?: string;
  /**
   * The host's public IPv4 address, for `expose: "public"` services reached
   * directly (router port forwarding). "auto" asks `dns.publicIpUrl` at each
   * plan. @default none: the host serves no direct public service
   */
  public?: string;
}

/** How holt reaches the Caddy on a host. See docs/services.md. */
export interface UserProxy {
  /**
   * Caddy's admin API on the host: an address on its loopback and a port, or
   * a Unix socket in Caddy's syntax. An address the network could reach is
   * refused, since the admin API has no authentication.
   * @default "127.0.0.1:2019"
   * @example "unix//run/caddy/admin.sock"
   */
  admin?: string;
  /** Port Caddy serves HTTPS on. @default 443 */
  httpsPort?: number;
  /** Port Caddy serves HTTP on (it redirects to HTTPS). @default 80 */
  httpPort?: number;
}

/** A piece of a service's state: one dataset `<stateRoot>/<service>/<name>`. */
export interface UserStateEntry extends DatasetProperties {
  /** Where the service sees it, e.g. "/config". */
  path: string;
  /** Other ZFS properties by name, as for datasets. */
  properties?: Record<string, string>;
  /** The backup policy (a key of `backups.policies`), or false for none. @default "default" */
  backup?: string | false;
}

/** A dataset declared under the host's `datasets`, mounted into a service. */
export interface UserMount {
  /** Full ZFS name of a dataset declared on the service's host. */
  dataset: string;
  /** @default false */
  readOnly?: boolean;
}

/** When a service counts as up. */
export interface UserHealth {
  /** HTTP path probed on the service's port; any 2xx or 3xx answer passes. */
  http: string;
  /** Time between probes. @default "30s" */
  interval?: string;
  /** Time one probe may take. @default "5s", or the interval if that is shorter */
  timeout?: string;
  /** Failed probes in a row before the service is unhealthy. @default 3 */
  retries?: number;
}

export interface UserResources {
  /** Memory limit, like "1G". @default no limit */
  memory?: string;
  /** CPU limit in cores, like 2 or 0.5. @default no limit */
  cpus?: number;
}

/** A service of the lab. */
export interface UserService {
  /** The host it runs on: a key of `hosts`. */
  host: string;
  /**
   * The container image. A service without one is only its state datasets.
   * @example "docker.io/jellyfin/jellyfin:10.10.3"
   */
  image?: string;
  /** Arguments after the image (its command). @default the image's own */
  command?: string[];
  /**
   * Its name under the lab's domain: "media" serves https://media.<domain>.
   * Needs `port`. Each hostname belongs to one service.
   */
  hostname?: string;
  /** The port the app listens on inside the container, for HTTP. */
  port?: number;
  /**
   * The port on the host's loopback that `port` is published on, for the proxy
   * and health checks. Unique per host. @default the same as `port`
   */
  hostPort?: number;
  /**
   * Extra ports published on every address of the host, like "53/udp",
   * "8883" or "2222:22/tcp" (host:container/protocol). @default []
   */
  ports?: string[];
  /**
   * Its state, each entry a dataset.
   * @example { config: { path: "/config", quota: "20G" } }
   */
  state?: Record<string, UserStateEntry>;
  /**
   * Datasets declared under the host's `datasets`, by the path inside the container.
   * @example { "/media": { dataset: "tank/media", readOnly: true } }
   */
  mounts?: Record<string, UserMount>;
  /** Environment variables. @default {} */
  env?: Record<string, string | number | boolean>;
  /**
   * Secrets from the lab's secrets file: a key starting with "/" is a file
   * inside the container (mode 0400), any other key an environment variable.
   * @example { DB_PASSWORD: secret("db"), "/run/secrets/token": secret("token") }
   */
  secrets?: Record<string, SecretRef>;
  /** "uid" or "uid:gid" the container runs as; its state datasets are owned by it. */
  user?: string;
  /** When the service counts as up. @default it keeps running */
  health?: UserHealth;
  resources?: UserResources;
  /** Services that must be set up (and healthy) before this one. @default [] */
  dependsOn?: string[];
  /**
   * Who can reach the service. "private": the LAN (or tailnet) only, on your
   * domain with a trusted certificate. "public": the internet, directly or
   * through the tunnel. "internal": other services only; no hostname.
   * @default "private" with a hostname, "internal" without
   */
  expose?: "public" | "private" | "internal";
  /** For a private service: the address its DNS record points at. @default "lan" */
  privateVia?: "lan" | "tailnet";
  /** For a public service. @default "tunnel" when `edge.tunnel` is set, else "direct" */
  publicVia?: "direct" | "tunnel";
  /**
   * Mount the hostname's ACME certificate into the container, read-only, at
   * `path`: `fullchain.pem` and `privkey.pem`, replaced in place on renewal.
   * Needs `acme`. @default not mounted
   */
  certificate?: { path: string };
  /** Commands run in the container around each snapshot, and to check a restored copy. */
  hooks?: { preSnapshot?: string[]; postSnapshot?: string[]; verify?: string[] };
}

/** How holt changes one DNS zone. */
export type UserDnsZone =
  | {
      provider: "rfc2136";
      /** The primary server that accepts dynamic updates, "host" or "host:port" (port 53 by default). */
      server: string;
      /** The TSIG key the server expects. @default unsigned updates */
      tsig?: { name: string; algorithm?: TsigAlgorithmName; secret: SecretRef };
      nameservers?: string[];
      ttl?: number;
      wildcard?: boolean;
    }
  | {
      provider: "powerdns";
      /** The PowerDNS API, e.g. "http://192.168.1.2:8081". */
      url: string;
      apiKey: SecretRef;
      /** @default "localhost" */
      serverId?: string;
      nameservers?: string[];
      ttl?: number;
      wildcard?: boolean;
    }
  | {
      provider: "cloudflare";
      apiToken: SecretRef;
      /** @default looked up by the zone's name */
      zoneId?: string;
      nameservers?: string[];
      ttl?: number;
      wildcard?: boolean;
    };

export type TsigAlgorithmName =
  | "hmac-md5"
  | "hmac-sha1"
  | "hmac-sha224"
  | "hmac-sha256"
  | "hmac-sha384"
  | "hmac-sha512";

/** The lab's DNS: zones holt may change, by zone name. */
export interface UserDns {
  /**
   * Zones the world sees (public records, ACME challenges; also private
   * records when no `internal` zone covers them).
   */
  zones: Record<string, UserDnsZone>;
  /**
   * Zones only the LAN sees (split horizon): private services' records go
   * here when one covers their name. @default {}
   */
  internal?: Record<string, UserDnsZone>;
  /** Where `public: "auto"` learns a host's public IPv4 (plain text answer). @default "https://api.ipify.org" */
  publicIpUrl?: string;
}

/** Certificates from an ACME CA, by DNS-01 through the lab's DNS zones. */
export interface UserAcme {
  /** Contact address for the CA account. */
  email: string;
  /**
   * "letsencrypt", "letsencrypt-staging", or any ACME directory URL.
   * @default "letsencrypt"
   */
  directory?: string;
  /** A PEM file of extra CAs to trust when talking to the ACME server (a private CA), relative to the config. */
  trust?: string;
  /**
   * Renew when this much validity is left, like "30d". @default a third of
   * the certificate's lifetime, or earlier when the CA's renewal info says so
   */
  renewBefore?: string;
  /** Seconds to wait for every authoritative nameserver to serve a challenge. @default 120 */
  propagationTimeout?: number;
}

/** Public exposure through a Cloudflare Tunnel (no open ports, no bastion). */
export interface UserTunnel {
  provider: "cloudflare";
  /** The Cloudflare account that owns the tunnel. */
  accountId: string;
  /**
   * The tunnel's id (a UUID). Create the tunnel in the Cloudflare dashboard
   * (Zero Trust → Networks → Tunnels), so that it is managed remotely: holt
   * writes its configuration through the API.
   */
  tunnelId: string;
  /** The tunnel's run token. */
  token: SecretRef;
  /** An API token allowed to edit the tunnel's configuration (Cloudflare Tunnel: Edit). */
  apiToken: SecretRef;
  /** The host that runs the `cloudflared` container. */
  host: string;
  /** @default "docker.io/cloudflare/cloudflared:2024.12.2" */
  image?: string;
}

export interface UserEdge {
  tunnel?: UserTunnel;
}

/**
 * How many snapshots of each kind to keep: the newest of each of the last N
 * periods (UTC) that have one, as `restic forget --keep-*` does. A count
 * left out is 0, and at least one count must be above 0: `{ last: 1 }`
 * keeps only the newest.
 * @example { hourly: 24, daily: 30, weekly: 8, monthly: 12, yearly: 5 }
 */
export interface UserKeep {
  /** The N newest snapshots, whatever their times. @default 0 */
  last?: number;
  /** The newest of each of the last N hours that have one. @default 0 */
  hourly?: number;
  /** The newest of each of the last N days that have one. @default 0 */
  daily?: number;
  /** The newest of each of the last N weeks (Monday to Sunday) that have one. @default 0 */
  weekly?: number;
  /** The newest of each of the last N months that have one. @default 0 */
  monthly?: number;
  /** The newest of each of the last N years that have one. @default 0 */
  yearly?: number;
}

/** A backup policy: local snapshots, a replica on another host, an offsite copy. */
export interface UserBackupPolicy {
  /** Local snapshots to keep. @default { hourly: 24, daily: 30, weekly: 8, monthly: 12 } */
  snapshots?: UserKeep;
  /** Replicate to `"<host>:<dataset>"` over SSH, keeping `keep` there. @default no replica */
  replica?: { to: string; keep?: UserKeep };
  /** Copy to a restic repository (a key of `backups.repositories`). @default no offsite copy */
  offsite?: { repository: string; keep?: UserKeep };
}

/** A restic repository. */
export interface UserRepository {
  /** restic's repository string: a path, "sftp:…", "rest:…", "s3:…", "b2:…", "azure:…", "gs:…", "rclone:…". */
  restic: string;
  password: SecretRef;
  /** Environment for the backend (credentials as secrets). @default {} */
  env?: Record<string, string | SecretRef>;
}

export interface UserBackups {
  /** Named policies; "default" applies to every state dataset that names none. */
  policies?: Record<string, UserBackupPolicy>;
  repositories?: Record<string, UserRepository>;
}

/** The whole lab, as written in holt.config.ts. */
export interface UserLab {
  /** The lab's DNS domain, e.g. "lab.example.com". */
  domain: string;
  /** Marks what this lab owns on its hosts. @default the domain */
  name?: string;
  /** The machines, by name. */
  hosts: Record<string, UserHost>;
  /** The services, by name. @default {} */
  services?: Record<string, UserService>;
  /** DNS zones holt keeps the services' records in. @default no DNS records */
  dns?: UserDns;
  /** Snapshots, replication and offsite copies of every service's state. @default the "default" policy, snapshots only */
  backups?: UserBackups;
  /** Trusted certificates by ACME DNS-01. @default Caddy's local CA */
  acme?: UserAcme;
  /** Public exposure without opening ports. */
  edge?: UserEdge;
}

export type ResolvedConnect =
  | { readonly kind: "local" }
  | {
      readonly kind: "ssh";
      readonly user: string;
      readonly port: number;
      readonly identityFile: string;
      readonly knownHostsFile: string;
    };

export interface ResolvedDataset {
  /** Full ZFS name, e.g. "tank/media". */
  readonly name: string;
  /** Native (normalized to what `zfs get -p` prints) and user properties. */
  readonly properties: Readonly<Record<string, string>>;
  /** Where it was declared, e.g. `hosts.odroid.datasets["tank/media"]`. */
  readonly configPath: string;
}

export interface ResolvedProxy {
  /** As written: "127.0.0.1:2019", or "unix//run/caddy/admin.sock" for a Unix socket. */
  readonly adminAddress: string;
  /** null for a Unix socket. */
  readonly adminPort: number | null;
  readonly httpsPort: number;
  readonly httpPort: number;
}

export interface ResolvedHost {
  readonly name: string;
  readonly address: string;
  readonly connect: ResolvedConnect;
  readonly proxy: ResolvedProxy;
  /** Tailnet address, or null. */
  readonly tailnet: string | null;
  /** Public IPv4 address, "auto" (detected at plan time), or null. */
  readonly public: string | null;
  /** `null` when it defaults to the host's first pool, known only once the host is read. */
  readonly stateRoot: string | null;
  readonly datasets: readonly ResolvedDataset[];
}

export interface ResolvedStateEntry {
  readonly name: string;
  readonly path: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly configPath: string;
  /** The backup policy's name; null: not backed up. */
  readonly backup: string | null;
}

export interface ResolvedKeep {
  readonly last: number;
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly yearly: number;
}

export interface ResolvedBackupPolicy {
  readonly name: string;
  readonly snapshots: ResolvedKeep;
  readonly replica: {
    readonly host: string;
    readonly dataset: string;
    readonly keep: ResolvedKeep;
  } | null;
  readonly offsite: { readonly repository: string; readonly keep: ResolvedKeep } | null;
}

export interface ResolvedRepository {
  readonly name: string;
  readonly restic: string;
  /** Secret name. */
  readonly password: string;
  /** Plain values, or `{ secret }` names. */
  readonly env: Readonly<Record<string, { readonly value: string } | { readonly secret: string }>>;
}

export interface ResolvedBackups {
  readonly policies: Readonly<Record<string, ResolvedBackupPolicy>>;
  readonly repositories: Readonly<Record<string, ResolvedRepository>>;
}

export interface ResolvedHooks {
  readonly preSnapshot: readonly string[] | null;
  readonly postSnapshot: readonly string[] | null;
  readonly verify: readonly string[] | null;
}

export interface ResolvedPort {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: "tcp" | "udp";
}

export interface ResolvedMount {
  readonly target: string;
  readonly dataset: string;
  readonly readOnly: boolean;
}

export interface ResolvedSecretUse {
  /** Environment variable name, or absolute file path in the container. */
  readonly target: string;
  readonly kind: "env" | "file";
  /** Name in the secrets file. */
  readonly secret: string;
  readonly configPath: string;
}

export interface ResolvedHealth {
  readonly http: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
}

/** What runs: present when the service has an image. */
export interface ResolvedContainer {
  readonly image: string;
  readonly command: readonly string[] | null;
  /** Fully qualified, e.g. "media.lab.example.com"; `null` for no route. */
  readonly hostname: string | null;
  readonly port: number | null;
  readonly hostPort: number | null;
  readonly ports: readonly ResolvedPort[];
  readonly mounts: readonly ResolvedMount[];
  readonly env: Readonly<Record<string, string>>;
  readonly secrets: readonly ResolvedSecretUse[];
  readonly user: string | null;
  readonly health: ResolvedHealth | null;
  readonly memory: number | null;
  readonly cpus: number | null;
}

/** Who can reach a service, and how. */
export type ResolvedExposure =
  | { readonly kind: "internal" }
  | { readonly kind: "private"; readonly via: "lan" | "tailnet" }
  | { readonly kind: "public"; readonly via: "direct" | "tunnel" };

export interface ResolvedService {
  readonly name: string;
  readonly host: string;
  readonly expose: ResolvedExposure;
  /** Where the container sees its certificate's files; null: not mounted. */
  readonly certificatePath: string | null;
  readonly hooks: ResolvedHooks;
  readonly state: readonly ResolvedStateEntry[];
  readonly dependsOn: readonly string[];
  readonly container: ResolvedContainer | null;
}

/** A zone's provider, with secret names (never values). */
export type ResolvedZoneProvider =
  | {
      readonly kind: "rfc2136";
      readonly server: { readonly host: string; readonly port: number };
      readonly tsig: {
        readonly name: string;
        readonly algorithm: TsigAlgorithmName;
        readonly secret: string;
      } | null;
    }
  | {
      readonly kind: "powerdns";
      readonly url: string;
      readonly apiKeySecret: string;
      readonly serverId: string;
    }
  | {
      readonly kind: "cloudflare";
      readonly apiTokenSecret: string;
      readonly zoneId: string | null;
    };

export interface ResolvedDnsZone {
  /** Apex, lower case, e.g. "lab.example.com". */
  readonly zone: string;
  /** "public": `dns.zones`; "internal": `dns.internal` (split horizon). */
  readonly view: "public" | "internal";
  readonly provider: ResolvedZoneProvider;
  readonly nameservers: readonly string[] | null;
  readonly ttl: number;
  readonly wildcard: boolean;
  readonly configPath: string;
}

export interface ResolvedDns {
  readonly zones: readonly ResolvedDnsZone[];
  readonly publicIpUrl: string;
}

export interface ResolvedAcme {
  readonly email: string;
  readonly directoryUrl: string;
  /** Absolute path of a PEM file of extra CAs, or null. */
  readonly trustFile: string | null;
  /** Renew when this much validity is left; null: a third of the lifetime. */
  readonly renewBeforeMs: number | null;
  readonly propagationTimeoutMs: number;
}

export interface ResolvedTunnel {
  readonly provider: "cloudflare";
  readonly accountId: string;
  readonly tunnelId: string;
  readonly tokenSecret: string;
  readonly apiTokenSecret: string;
  readonly host: string;
  readonly image: string;
}

export interface ResolvedLab {
  readonly name: string;
  readonly domain: string;
  /** The config file it came from, for error messages. */
  readonly file: string;
  readonly hosts: Readonly<Record<string, ResolvedHost>>;
  readonly services: Readonly<Record<string, ResolvedService>>;
  /** null: holt keeps no DNS records. */
  readonly dns: ResolvedDns | null;
  /** null: routes use Caddy's local CA. */
  readonly acme: ResolvedAcme | null;
  readonly tunnel: ResolvedTunnel | null;
  readonly backups: ResolvedBackups;
}
