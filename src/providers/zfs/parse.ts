/**
 * Parsers for ZFS command output. They accept both zfs-fuse (pool version 23)
 * and OpenZFS 2.x output; tests run them on captured samples of each.
 */
import { HoltError } from "../../errors.ts";
import { parseZfsGet as parseZfsGetOutput, type ZfsValue } from "../../util/zfs-get.ts";

export type PropertyValue = ZfsValue;

export type DatasetProperties = Map<string, PropertyValue>;

/**
 * Parses `zfs get -H -p -o name,property,source,value PROPERTIES` (see
 * `util/zfs-get.ts`: a value may hold tabs and line breaks). Snapshots
 * (names with "@") and bookmarks are skipped. Throws HOLT_E_ZFS, saying
 * where, for output it cannot read unambiguously.
 */
export function parseZfsGet(
  output: string,
  properties: readonly string[],
  where: string,
): Map<string, DatasetProperties> {
  const parsed = parseZfsGetOutput(output, properties);
  if (!parsed.ok) {
    throw new HoltError(
      "HOLT_E_ZFS",
      `Could not read \`zfs get\` output on ${where}: ${parsed.reason}. holt reads no further and changes nothing; look at the datasets' properties on that host (zfs get -H ${properties.join(",")}).`,
    );
  }
  const datasets = new Map<string, DatasetProperties>();
  for (const [name, values] of parsed.datasets) {
    if (!name.includes("@") && !name.includes("#")) datasets.set(name, values);
  }
  return datasets;
}

/**
 * Parses `zpool get all POOL...` printed with its header (zfs-fuse has no
 * -H): columns NAME PROPERTY VALUE SOURCE separated by runs of spaces.
 * Values never contain spaces for the properties holt reads.
 */
export function parseZpoolGet(output: string): Map<string, Map<string, string>> {
  const pools = new Map<string, Map<string, string>>();
  for (const line of output.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || (fields[0] === "NAME" && fields[1] === "PROPERTY")) continue;
    const [name, property, value] = fields as [string, string, string];
    let properties = pools.get(name);
    if (properties === undefined) {
      properties = new Map();
      pools.set(name, properties);
    }
    properties.set(property, value);
  }
  return pools;
}
