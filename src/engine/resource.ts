/**
 * The desired graph the model produces and the engine converges. A resource's
 * `address` is its stable identity, derived from the config; the id a real
 * system assigns never appears here.
 */

export interface Resource<Inputs = unknown> {
  /** Stable address, e.g. "zfs.dataset:odroid/tank/media". */
  readonly address: string;
  /** Provider type, e.g. "zfs.dataset". */
  readonly type: string;
  /** Host the resource lives on. */
  readonly host: string;
  /** Service it belongs to, if any. */
  readonly service?: string;
  /** Short display name within its type and host, e.g. "tank/media". */
  readonly name: string;
  /** Desired inputs: plain JSON, compared by the provider's diff. */
  readonly inputs: Inputs;
  /** Addresses that must exist before this one. */
  readonly dependsOn: readonly string[];
  /** Where in holt.config.ts it comes from, for error messages. */
  readonly configPath: string;
}

export interface DesiredGraph {
  /** Lab name: the owner value written into every managed system. */
  readonly lab: string;
  readonly resources: readonly Resource[];
  /**
   * Per host, per provider type: settings a provider needs even when no
   * resource of its type is desired there (e.g. where the host's Caddy
   * listens, to find routes the lab still owns). Plain JSON.
   */
  readonly hostSettings?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}
