/**
 * What a pool can do, from `zpool get all`. Legacy pools (zfs-fuse, version
 * 23) have a version number; feature-flag pools (OpenZFS, version 5000 or
 * "-") list `feature@...` entries that are "enabled" or "active".
 */

export interface PoolCapabilities {
  readonly pool: string;
  /** Pool version; 5000 for feature-flag pools. */
  readonly version: number;
  readonly features: ReadonlySet<string>;
}

export function poolCapabilities(
  pool: string,
  properties: ReadonlyMap<string, string>,
): PoolCapabilities {
  const raw = properties.get("version") ?? "-";
  const version = /^\d+$/.test(raw) ? Number(raw) : 5000;
  const features = new Set<string>();
  for (const [name, value] of properties) {
    if (name.startsWith("feature@") && (value === "enabled" || value === "active")) {
      features.add(name.slice("feature@".length));
    }
  }
  return { pool, version, features };
}

/** Why a compression value cannot be used on this pool, or null if it can. */
export function compressionUnsupported(value: string, caps: PoolCapabilities): string | null {
  const needs = (feature: string) =>
    caps.features.has(feature)
      ? null
      : caps.version < 5000
        ? `pool "${caps.pool}" is ZFS pool version ${caps.version}, which has no ${value} compression`
        : `pool "${caps.pool}" does not have the ${feature} feature enabled (run \`zpool upgrade ${caps.pool}\`)`;
  if (value === "lz4") return needs("lz4_compress");
  if (value.startsWith("zstd")) return needs("zstd_compress");
  if (value === "zle" && caps.version < 20)
    return `pool "${caps.pool}" is version ${caps.version}; zle needs version 20`;
  return null;
}

/** Why a recordsize cannot be used on this pool, or null if it can. */
export function recordsizeUnsupported(bytes: number, caps: PoolCapabilities): string | null {
  if (bytes <= 131072 || caps.features.has("large_blocks")) return null;
  return caps.version < 5000
    ? `pool "${caps.pool}" is ZFS pool version ${caps.version}, where the largest recordsize is 128K`
    : `pool "${caps.pool}" does not have the large_blocks feature enabled (run \`zpool upgrade ${caps.pool}\`)`;
}
