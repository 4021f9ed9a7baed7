/**
 * Parsers for ZFS command output. They accept both zfs-fuse (pool version 23)
 * and OpenZFS 2.x output; tests run them on captured samples of each.
 */
import { HoltError } from "../../errors.ts";

export interface PropertyValue {
  readonly value: string;
  /** "local", "default", "inherited from X", "received", "temporary" or "-". */
  readonly source: string;
}

export type DatasetProperties = Map<string, PropertyValue>;

/**
 * Parses `zfs get -H -p -o name,property,value,source ...`: one tab-separated
 * line per dataset and property. Snapshots (names with "@") are skipped.
 */
export function parseZfsGet(output: string): Map<string, DatasetProperties> {
  const datasets = new Map<string, DatasetProperties>();
  let lineNumber = 0;
  for (const line of output.split("\n")) {
    lineNumber++;
    if (line === "") continue;
    const fields = line.split("\t");
    if (fields.length !== 4) {
      throw new HoltError(
        "HOLT_E_ZFS",
        `Unexpected \`zfs get\` output on line ${lineNumber}: expected 4 tab-separated fields (name, property, value, source), got ${fields.length}: ${JSON.stringify(line.slice(0, 120))}.`,
      );
    }
    const [name, property, value, source] = fields as [string, string, string, string];
    if (name.includes("@") || name.includes("#")) continue;
    let properties = datasets.get(name);
    if (properties === undefined) {
      properties = new Map();
      datasets.set(name, properties);
    }
    properties.set(property, { value, source });
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
