/**
 * The contract between the engine and one kind of real resource. The engine
 * knows no ZFS, DNS or HTTP: it reads, diffs and calls these methods in
 * dependency order. Providers never call each other.
 */
import type { Exec } from "../hosts/exec.ts";
import type { Resource } from "./resource.ts";

/** What a provider needs to reach a host. */
export interface ProviderContext {
  readonly host: string;
  readonly exec: Exec;
  /** The owner value to write and recognise (the lab name). */
  readonly lab: string;
  /**
   * The lab's secret values: given to apply steps, and to reads of providers
   * whose systems need credentials to be read at all (DNS APIs). Values must
   * never reach a plan, an error or a log. Throws a HoltError when the
   * secret is missing.
   */
  readonly secretValue?: (name: string) => string;
  /** Files holt keeps for the lab on the machine it runs on (certificates, DNS ownership). */
  readonly store?: ProviderStore;
  /** This provider's settings for the host (`DesiredGraph.hostSettings`), if any. */
  readonly settings?: unknown;
}

/**
 * A provider's files in the lab's state folder, on the machine holt runs on.
 * Paths are relative ("certs/media.example.com.json"); every file is written
 * atomically with mode 0600.
 */
export interface ProviderStore {
  read(path: string): Promise<string | null>;
  write(path: string, text: string): Promise<void>;
  remove(path: string): Promise<void>;
}

/**
 * A resource as read from the real system. `state` must be stable (it is
 * fingerprinted to bind saved plans); volatile facts go in `info`.
 */
export interface Observed<State = unknown> {
  readonly state: State;
  /** True when the system marks it as owned by this lab. */
  readonly managed: boolean;
  /** Volatile facts shown in plans but never compared, e.g. used bytes. */
  readonly info?: Readonly<Record<string, string | number>>;
}

/** A resource this lab owns in the real system, found while reading. */
export interface OwnedResource<State = unknown> {
  readonly address: string;
  readonly type: string;
  readonly host: string;
  readonly service?: string;
  readonly name: string;
  /** Owned resources it lives inside (e.g. a parent dataset), if also owned. */
  readonly dependsOn: readonly string[];
  readonly observed: Observed<State>;
}

/** One field of a change, shown as `path: before → after` in the plan. */
export interface FieldChange {
  readonly path: string;
  /** Display value; `null` when absent or inherited. */
  readonly before: string | null;
  readonly after: string | null;
  /** True when the field cannot change in place (forces replace). */
  readonly forcesReplace?: boolean;
}

/** A problem a provider finds in the desired inputs once it knows the host. */
export interface InputProblem {
  readonly address: string;
  /** The config path, as in `Resource.configPath` plus a field. */
  readonly path: string;
  readonly message: string;
}

export interface ReadResult<State> {
  /** Actual state of each desired resource that exists, by address. */
  readonly observed: ReadonlyMap<string, Observed<State>>;
  /** Everything of this type the lab owns on the host, desired or not. */
  readonly owned: readonly OwnedResource<State>[];
  /** Problems with the desired inputs that only the host can reveal. */
  readonly problems: readonly InputProblem[];
  /**
   * What the user should know about this host that no change of the plan
   * fixes (a risk of the host's software), shown with the plan, each once.
   */
  readonly warnings?: readonly string[];
}

export interface DeleteOptions {
  /** Take a safety snapshot (or equivalent) before destroying data. */
  readonly safetySnapshot: string;
}

export interface Provider<Inputs = unknown, State = unknown> {
  readonly type: string;
  /** Human noun for plans: "dataset". */
  readonly noun: string;
  /** Whether deleting it destroys user data (needs --allow-data-loss). */
  readonly holdsData: boolean;
  /**
   * "edge": its resources live on the edge pseudo-host (`EDGE_HOST`), read
   * once from the machine holt runs on; "host" (the default): on each host.
   */
  readonly scope?: "host" | "edge";
  /** Reads every desired resource of this type on one host, plus what the lab owns there. */
  read(ctx: ProviderContext, desired: readonly Resource<Inputs>[]): Promise<ReadResult<State>>;
  /** Field changes from the observed state to the desired inputs; empty means in sync. */
  diff(desired: Resource<Inputs>, observed: Observed<State>): readonly FieldChange[];
  /** Fields shown for a create (all of them with --detailed). */
  describe(desired: Resource<Inputs>): readonly FieldChange[];
  create(ctx: ProviderContext, desired: Resource<Inputs>): Promise<void>;
  update(ctx: ProviderContext, desired: Resource<Inputs>, observed: Observed<State>): Promise<void>;
  /** Destroys it and its data. Only called with --allow-data-loss. */
  delete(ctx: ProviderContext, owned: OwnedResource<State>, options: DeleteOptions): Promise<void>;
  /** Stops managing it and keeps it: drops the ownership mark. */
  release(ctx: ProviderContext, owned: OwnedResource<State>): Promise<void>;
  /** Marks an existing unmanaged resource as owned, then converges it. */
  adopt(ctx: ProviderContext, desired: Resource<Inputs>, observed: Observed<State>): Promise<void>;
  /**
   * Which of `removed` must be gone before `desired` is made: things the real
   * system will not hold side by side, although their addresses differ (a
   * CNAME and an A record at one name). `removed` are the resources of this
   * type on the same host that the plan deletes or releases; the create,
   * update or replace of `desired` then waits for the removal of each address
   * returned, so the system never has to hold both, whichever way a name
   * moves. Pure and fast, like `diff`. Absent: nothing conflicts.
   * @example
   * conflictsWith: (desired, removed) =>
   *   removed.filter((o) => clashes(desired.inputs, o.observed.state)).map((o) => o.address)
   */
  conflictsWith?(
    desired: Resource<Inputs>,
    removed: readonly OwnedResource<State>[],
  ): readonly string[];
}
