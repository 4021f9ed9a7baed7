/**
 * Reading `zfs get -H -p -o name,property,source,value PROPS [DATASET...]`
 * when any value may hold a tab or a line break.
 *
 * OpenZFS and zfs-fuse print values as they are, without escaping: one
 * line per dataset and property, columns separated by tabs. Names, property
 * names and sources never hold a tab or a line break (ZFS refuses them in
 * names; sources are "local", "default", "-", "inherited from <name>", ...),
 * but a user property's value may hold both, and any dataset of the host
 * may have one. So the value is asked for last: a tab in it stays in it,
 * and a line that does not start like a record continues the value before
 * it.
 *
 * A value could also hold lines shaped like records. Asked for a list of
 * properties (never "all"), both ZFS print every one of them for every
 * dataset ("-" when it has none), in the order asked, one dataset after
 * another. A line claiming a property out of that order or twice, a
 * dataset seen before, or a dataset without all of them is refused as
 * ambiguous. And the last property asked for is one whose value never holds
 * a line break (`zfsGetOrder`): so the lines a value adds always stand
 * between two real records of one dataset, and any record among them
 * either repeats a property the real record after it then repeats again,
 * or starts another dataset before this one has all its properties.
 * Either is refused; a value can neither change a dataset nor add one.
 */

export const ZFS_GET_COLUMNS = "name,property,source,value";

/**
 * Properties whose values never hold a line break: numbers (with `-p`),
 * "yes"/"no", or "-". One of them goes last.
 */
const LINE_SAFE: ReadonlySet<string> = new Set([
  "guid",
  "creation",
  "createtxg",
  "used",
  "userrefs",
  "mounted",
]);

/**
 * `properties` in the order to ask `zfs get` for them and hand to
 * `parseZfsGet`: the last line-safe one moved to the end, or `guid` added
 * there when none is asked for.
 */
export function zfsGetOrder(properties: readonly string[]): string[] {
  const safe = properties.findLast((p) => LINE_SAFE.has(p)) ?? "guid";
  return [...properties.filter((p) => p !== safe), safe];
}

export interface ZfsValue {
  readonly value: string;
  /** "local", "default", "inherited from X", "received", "temporary" or "-". */
  readonly source: string;
}

export type ZfsGetParse =
  | {
      readonly ok: true;
      /** Each dataset (or snapshot) by name, its properties in the order asked. */
      readonly datasets: Map<string, Map<string, ZfsValue>>;
    }
  | { readonly ok: false; readonly reason: string };

const RECORD = /^([^\t]+)\t([^\t]+)\t(local|default|temporary|received|-|inherited from [^\t]+)\t/;

export function parseZfsGet(output: string, properties: readonly string[]): ZfsGetParse {
  if (!LINE_SAFE.has(properties.at(-1) ?? "")) {
    // A caller's bug, not the host's: it asked in an order that cannot be read unambiguously.
    throw new Error(`zfs get must be asked for ${properties.join(",")} in zfsGetOrder()'s order`);
  }
  const order = new Map(properties.map((p, i) => [p, i]));
  const datasets = new Map<string, Map<string, ZfsValue>>();
  const text = output.endsWith("\n") ? output.slice(0, -1) : output;
  if (text === "") return { ok: true, datasets };
  let name: string | undefined;
  let current: Map<string, ZfsValue> | undefined;
  let property: string | undefined;
  let lastIndex = -1;
  const incomplete = (line: number): ZfsGetParse | undefined =>
    current === undefined || current.size === properties.length
      ? undefined
      : {
          ok: false,
          reason: `${show(name ?? "")} has ${current.size} of the ${properties.length} properties asked for, by line ${line} (a value holds lines that look like records, or zfs printed fewer)`,
        };
  const lines = text.split("\n");
  for (const [index, line] of lines.entries()) {
    const m = RECORD.exec(line);
    const at = m === null ? undefined : order.get(m[2] ?? "");
    if (m === null || at === undefined) {
      if (current === undefined || property === undefined) {
        return { ok: false, reason: `line ${index + 1} is not a record: ${show(line)}` };
      }
      const before = current.get(property) as ZfsValue;
      current.set(property, { ...before, value: `${before.value}\n${line}` });
      continue;
    }
    const [head, recordName = "", recordProperty = "", source = ""] = m;
    if (recordName !== name) {
      const short = incomplete(index);
      if (short !== undefined) return short;
      if (datasets.has(recordName)) {
        return {
          ok: false,
          reason: `line ${index + 1} is about ${show(recordName)} again, after other datasets (a value holds lines that look like records)`,
        };
      }
      name = recordName;
      current = new Map();
      datasets.set(name, current);
      lastIndex = -1;
    }
    if (at <= lastIndex) {
      return {
        ok: false,
        reason: `line ${index + 1} gives ${show(recordProperty)} of ${show(recordName)} out of order or twice (a value holds lines that look like records)`,
      };
    }
    lastIndex = at;
    property = recordProperty;
    current?.set(property, { value: line.slice(head.length), source });
  }
  return incomplete(lines.length) ?? { ok: true, datasets };
}

function show(text: string): string {
  const shown = JSON.stringify(text);
  return shown.length > 120 ? `${shown.slice(0, 117)}...` : shown;
}
