/**
 * The shape of holt.config.ts. User types are all-optional where a default
 * exists (documented with @default); `Resolved*` types have every default
 * filled in and are what the model reads.
 */
import type { DatasetProperties } from "./dataset-properties.ts";

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
}

/** A piece of a service's state: one dataset `<stateRoot>/<service>/<name>`. */
export interface UserStateEntry extends DatasetProperties {
  /** Where the service sees it, e.g. "/config". */
  path: string;
  /** Other ZFS properties by name, as for datasets. */
  properties?: Record<string, string>;
}

/** A service of the lab. */
export interface UserService {
  /** The host it runs on: a key of `hosts`. */
  host: string;
  /**
   * Its state, each entry a dataset.
   * @example { config: { path: "/config", quota: "20G" } }
   */
  state?: Record<string, UserStateEntry>;
  /** Services that must be set up before this one. @default [] */
  dependsOn?: string[];
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

export interface ResolvedHost {
  readonly name: string;
  readonly address: string;
  readonly connect: ResolvedConnect;
  /** `null` when it defaults to the host's first pool, known only once the host is read. */
  readonly stateRoot: string | null;
  readonly datasets: readonly ResolvedDataset[];
}

export interface ResolvedStateEntry {
  readonly name: string;
  readonly path: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly configPath: string;
}

export interface ResolvedService {
  readonly name: string;
  readonly host: string;
  readonly state: readonly ResolvedStateEntry[];
  readonly dependsOn: readonly string[];
}

export interface ResolvedLab {
  readonly name: string;
  readonly domain: string;
  /** The config file it came from, for error messages. */
  readonly file: string;
  readonly hosts: Readonly<Record<string, ResolvedHost>>;
  readonly services: Readonly<Record<string, ResolvedService>>;
}
