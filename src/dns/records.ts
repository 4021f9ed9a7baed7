/**
 * Record values in the one form the dns layer compares and returns (see
 * types.ts): names lower case without the trailing dot, A as a dotted quad,
 * AAAA in RFC 5952 form, CNAME targets as names, TXT as the text itself.
 * Also TXT splitting into <=255-byte strings and the config path of a zone
 * for error messages. Both backends and the wire code share these.
 */
import { HoltError } from "../errors.ts";
import type { RecordSet, RecordType } from "./types.ts";

/** A DNS string (one TXT "character-string") holds at most this many bytes. */
export const TXT_CHUNK_BYTES = 255;

/** `dns.zones["lab.example.com"]`, the config path users look for in a message. */
export function zonePath(zone: string): string {
  return `dns.zones[${JSON.stringify(zone)}]`;
}

/** Lower case, no trailing dot: "Media.Lab.Example.com." → "media.lab.example.com". */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") && lower !== "." ? lower.slice(0, -1) : lower;
}

/** Whether `name` is `zone` or inside it. Both normalized. */
export function isInZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

/** The four bytes of a dotted quad, or undefined when it is not one. */
export function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes.push(n);
  }
  return bytes;
}

/** The eight 16-bit groups of an IPv6 address (with "::" and a trailing dotted quad), or undefined. */
export function parseIpv6(text: string): number[] | undefined {
  let rest = text.toLowerCase();
  const tail: number[] = [];
  const lastColon = rest.lastIndexOf(":");
  if (lastColon >= 0 && rest.slice(lastColon + 1).includes(".")) {
    const v4 = parseIpv4(rest.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    // "::1.2.3.4" leaves "::"; "a::b:1.2.3.4" leaves "a::b:", whose last ":" only separated the quad.
    rest = rest.slice(0, lastColon + 1);
    if (!rest.endsWith("::")) rest = rest.slice(0, -1);
  }
  const halves = rest.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups: number[] = [];
    for (const group of part.split(":")) {
      if (!/^[0-9a-f]{1,4}$/.test(group)) return undefined;
      groups.push(Number.parseInt(group, 16));
    }
    return groups;
  };
  const head = parseGroups(halves[0] ?? "");
  const after = halves.length === 2 ? parseGroups(halves[1] ?? "") : [];
  if (head === undefined || after === undefined) return undefined;
  const known = head.length + after.length + tail.length;
  if (halves.length === 1) {
    return known === 8 ? [...head, ...tail] : undefined;
  }
  if (known > 7) return undefined;
  return [...head, ...new Array<number>(8 - known).fill(0), ...after, ...tail];
}

/** RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/**
 * A value in the form types.ts promises, or undefined when it is not a valid
 * value of that type (a caller's bug or a strange record on a server).
 */
export function normalizeValue(type: RecordType, value: string): string | undefined {
  switch (type) {
    case "A": {
      const bytes = parseIpv4(value);
      return bytes === undefined ? undefined : bytes.join(".");
    }
    case "AAAA": {
      const groups = parseIpv6(value);
      return groups === undefined ? undefined : formatIpv6(groups);
    }
    case "CNAME":
      return value === "" ? undefined : normalizeName(value);
    case "TXT":
      return value;
  }
}

/** Normalized, sorted, without duplicates. Throws HOLT_E_INTERNAL on an invalid value (holt's own input). */
export function canonicalValues(type: RecordType, values: readonly string[]): string[] {
  const out = new Set<string>();
  for (const value of values) {
    const normal = normalizeValue(type, value);
    if (normal === undefined) {
      throw new HoltError(
        "HOLT_E_INTERNAL",
        `${JSON.stringify(value)} is not a valid ${type} record value.`,
      );
    }
    out.add(normal);
  }
  return [...out].sort();
}

/** Sorted, de-duplicated values from a server, skipping ones that are not valid (never written by holt). */
export function valuesFromServer(type: RecordType, values: readonly string[]): string[] {
  const out = new Set<string>();
  for (const value of values) {
    const normal = normalizeValue(type, value);
    if (normal !== undefined) out.add(normal);
  }
  return [...out].sort();
}

/** Whether two record sets hold the same values (TTL is not compared, as RFC 2136 prerequisites do not). */
export function sameValues(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** A TXT value as the strings that carry it: UTF-8 bytes cut every 255 bytes; "" is one empty string. */
export function splitTxt(value: string): Buffer[] {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length === 0) return [Buffer.alloc(0)];
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += TXT_CHUNK_BYTES) {
    chunks.push(bytes.subarray(i, i + TXT_CHUNK_BYTES));
  }
  return chunks;
}

/** The strings of one TXT record joined back into its value. */
export function joinTxt(chunks: readonly Uint8Array[]): string {
  return Buffer.concat(chunks).toString("utf8");
}

/** "name TYPE" for messages. */
export function describeKey(set: { readonly name: string; readonly type: RecordType }): string {
  return `${set.name} ${set.type}`;
}

/** Throws HOLT_E_INTERNAL when a caller passes a set and an `expected` for different keys. */
export function assertSameKey(set: RecordSet, expected: RecordSet | null): void {
  if (expected !== null && (expected.name !== set.name || expected.type !== set.type)) {
    throw new HoltError(
      "HOLT_E_INTERNAL",
      `upsert of ${describeKey(set)} was given the expected record set of ${describeKey(expected)}.`,
    );
  }
}

/** Reads at most `concurrency` keys at once; keys that do not exist are left out. */
export async function readInBatches<K, V>(
  keys: readonly K[],
  readOne: (key: K) => Promise<V | null>,
  concurrency = 8,
): Promise<V[]> {
  const found: V[] = [];
  for (let i = 0; i < keys.length; i += concurrency) {
    const batch = await Promise.all(keys.slice(i, i + concurrency).map(readOne));
    for (const value of batch) if (value !== null) found.push(value);
  }
  return found;
}
