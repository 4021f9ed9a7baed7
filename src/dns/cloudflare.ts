/**
 * The Cloudflare DNS backend: holt's record sets (name + type) kept as
 * Cloudflare DNS records, one record per value.
 *
 * Written against Cloudflare's documented shapes, not tested against the live
 * API (see cloudflare-api.ts for the client). What it relies on:
 *
 * - `GET /zones?name=<zone>` finds the zone's id and `name_servers` (at most
 *   50 zones a page); `GET /zones/{zone_id}` reads them for a configured id.
 * - `GET /zones/{zone_id}/dns_records?name.exact=…&type=…` and
 *   `?comment.exact=…` list records `{ id, name, type, content, ttl, proxied,
 *   comment }`, paginated (API reference "List DNS Records"; name and comment
 *   filters are case-insensitive, so holt compares again itself).
 * - `POST /zones/{zone_id}/dns_records/batch` with `{ deletes: [{ id }],
 *   patches: [{ id, name, type, ttl, … }], posts: [{ name, type, ttl, … }] }`
 *   runs in one database transaction: if one change fails, none is applied
 *   (docs "Batch record changes", available on all plans; at most 200
 *   changes on Free, 3,500 on paid plans). The schema requires `name`,
 *   `type` and `ttl` in a patch as in a post (cloudflare-typescript
 *   `BatchPatchParam`), so holt sends them. Deletes run first, then
 *   patches, then posts. `POST /zones/{zone_id}/dns_records` and
 *   `DELETE /zones/{zone_id}/dns_records/{id}` add and remove ACME values.
 * - `ttl: 1` means automatic, 300 s (docs "Time to Live (TTL)"); proxied
 *   records always have it.
 * - TXT `content` "must consist of quoted character strings (RFC 1035), each
 *   up to 255 bytes" (API reference, TXT record), while records made before
 *   that wording may hold the bare text (go-acme/lego#2521,
 *   DNSControl/dnscontrol#3834). holt writes the quoted form and reads both.
 *
 * Ownership mark: the record's `comment`, "holt:lab=<lab>". Comments exist on
 * every plan (100 characters on Free); tags only on paid plans (the plans
 * table in Cloudflare's docs, "DNS record tags: Free: No"), so holt uses no tag.
 * A record set is the lab's only when every record in it carries the mark.
 *
 * Proxying: records holt makes are "DNS only" (`proxied: false`) unless the
 * set asks for `proxied: true`: a private service's record points at a LAN or
 * tailnet address that Cloudflare's proxy cannot reach, and proxying would
 * hide the address the record exists to publish. A CNAME to
 * `<tunnel id>.cfargotunnel.com` only works proxied, so the tunnel's hostnames
 * ask for it. A proxied record is written with `ttl: 1` (Cloudflare gives
 * every proxied record the automatic TTL) and reads back as
 * CLOUDFLARE_AUTO_TTL, whatever TTL the set asked for. TXT records are never
 * proxied, and holt sends no `proxied` field for them.
 *
 * Cloudflare has no compare-and-swap for records: each change reads the set
 * right before it writes and refuses (HOLT_E_DNS_CONFLICT) when it is not what
 * the caller last read. A change made between that read and the write is not
 * seen.
 */
import { HoltError } from "../errors.ts";
import { createCloudflareApi, isRecord } from "./cloudflare-api.ts";
import type { CloudflareConnection } from "./connection.ts";
import type { ObservedRecordSet, RecordKey, RecordSet, RecordType, ZoneBackend } from "./types.ts";

/** What `ttl: 1` ("Auto") means, and the TTL of every proxied record. */
export const CLOUDFLARE_AUTO_TTL = 300;
const MARK_PREFIX = "holt:lab=";
/** Marks the ACME challenge values holt adds, for people reading the dashboard; not a lab mark. */
const ACME_COMMENT = "holt:acme-challenge";
/** The comment limit on the Free plan. */
const MAX_COMMENT_CHARS = 100;
const TXT_CHUNK_BYTES = 255;
/** The zone list allows at most 50 a page (its default is 20). */
const ZONES_PER_PAGE = 50;
const RECORD_TYPES: ReadonlySet<string> = new Set<RecordType>(["A", "AAAA", "CNAME", "TXT"]);

/** The comment that marks a record as this lab's. */
export function ownershipComment(lab: string): string {
  return `${MARK_PREFIX}${lab}`;
}

function labOf(comment: string | null): string | null {
  return comment?.startsWith(MARK_PREFIX) === true && comment.length > MARK_PREFIX.length
    ? comment.slice(MARK_PREFIX.length)
    : null;
}

/** One Cloudflare record, as read. */
interface CfRecord {
  readonly id: string;
  readonly name: string;
  readonly type: RecordType;
  readonly content: string;
  readonly ttl: number;
  readonly proxied: boolean;
  readonly comment: string | null;
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

function normalizeIpv6(address: string): string {
  try {
    // The WHATWG URL serializer writes RFC 5952's form: lower case, longest zero run as "::".
    return new URL(`http://[${address.trim()}]/`).hostname.slice(1, -1);
  } catch {
    return address.trim().toLowerCase();
  }
}

/** RFC 1035 character strings, each quoted, at most 255 bytes, `"` and `\` escaped. */
export function encodeTxt(value: string): string {
  const bytes = new TextEncoder().encode(value);
  const decoder = new TextDecoder();
  const chunks: string[] = [];
  let start = 0;
  do {
    let end = Math.min(start + TXT_CHUNK_BYTES, bytes.length);
    // Never split inside a UTF-8 sequence: back up to the first byte of the character.
    while (end < bytes.length && end > start && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
    const text = decoder.decode(bytes.subarray(start, end));
    chunks.push(`"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
    start = end;
  } while (start < bytes.length);
  return chunks.join(" ");
}

/** The text of a TXT record's content: quoted strings joined, or bare text as older records hold it. */
export function decodeTxt(content: string): string {
  const text = content.trim();
  if (!text.startsWith('"')) return content;
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  let i = 0;
  while (i < text.length) {
    while (text[i] === " " || text[i] === "\t") i++;
    if (i >= text.length) break;
    if (text[i] !== '"') return content;
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined) return content;
      if (c === '"') {
        i++;
        break;
      }
      if (c === "\\") {
        const digits = /^\d{3}/.exec(text.slice(i + 1, i + 4));
        if (digits !== null) {
          bytes.push(Number(digits[0]) & 0xff);
          i += 4;
          continue;
        }
        const next = text[i + 1];
        if (next === undefined) return content;
        bytes.push(...encoder.encode(next));
        i += 2;
        continue;
      }
      const point = text.codePointAt(i) ?? 0;
      const char = String.fromCodePoint(point);
      bytes.push(...encoder.encode(char));
      i += char.length;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function recordValue(record: { readonly type: RecordType; readonly content: string }): string {
  switch (record.type) {
    case "A":
      return record.content.trim();
    case "AAAA":
      return normalizeIpv6(record.content);
    case "CNAME":
      return normalizeName(record.content.trim());
    case "TXT":
      return decodeTxt(record.content);
  }
}

function contentOf(type: RecordType, value: string): string {
  return type === "TXT" ? encodeTxt(value) : value;
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

function sameSet(a: RecordSet | null, b: RecordSet | null): boolean {
  if (a === null || b === null) return a === b;
  const av = sortedUnique(a.values);
  const bv = sortedUnique(b.values);
  return a.ttl === b.ttl && av.length === bv.length && av.every((v, i) => v === bv[i]);
}

function describeSet(set: RecordSet | null): string {
  return set === null ? "nothing" : `${set.values.join(", ")} (ttl ${set.ttl})`;
}

/** The record set these records form (same name and type), with its owner when every record names the same lab. */
function observe(records: readonly CfRecord[]): ObservedRecordSet | null {
  const [first] = records;
  if (first === undefined) return null;
  const marks = new Set(records.map((r) => labOf(r.comment)));
  const [mark] = marks;
  return {
    name: first.name,
    type: first.type,
    ttl: Math.min(...records.map((r) => (r.ttl === 1 ? CLOUDFLARE_AUTO_TTL : r.ttl))),
    values: sortedUnique(records.map(recordValue)),
    ownerMark: marks.size === 1 && mark !== undefined ? mark : null,
  };
}

function keyOf(key: RecordKey): string {
  return `${key.type} ${key.name}`;
}

export function createCloudflareBackend(conn: CloudflareConnection): ZoneBackend {
  const zone = normalizeName(conn.zone);
  const zoneRef = `dns.zones["${zone}"]`;
  const api = createCloudflareApi({
    apiBase: conn.apiBase,
    apiToken: conn.apiToken,
    ...(conn.timeoutMs === undefined ? {} : { timeoutMs: conn.timeoutMs }),
    scope: `zone "${zone}"`,
    tokenFix: `Check ${zoneRef}.apiToken (store a new token with \`holt secrets set\` and the secret's name) and that the token has Zone.DNS edit permission on this zone.`,
  });

  let zoneLookup: Promise<{ readonly id: string; readonly nameServers: string[] }> | null = null;

  function parseZone(method: "GET", path: string, value: unknown) {
    if (!isRecord(value) || typeof value.id !== "string" || typeof value.name !== "string") {
      throw api.odd(method, path, "a zone without an id or a name");
    }
    const servers = Array.isArray(value.name_servers)
      ? value.name_servers.filter((s): s is string => typeof s === "string")
      : [];
    return { id: value.id, name: normalizeName(value.name), nameServers: servers };
  }

  async function lookUpZone(): Promise<{ readonly id: string; readonly nameServers: string[] }> {
    if (conn.zoneId !== null) {
      const path = `/zones/${encodeURIComponent(conn.zoneId)}`;
      const found = parseZone("GET", path, await api.call("GET", path));
      if (found.name !== zone) {
        throw new HoltError(
          "HOLT_E_DNS",
          `${zoneRef}.zoneId "${conn.zoneId}" is Cloudflare's zone "${found.name}", not "${zone}". Correct the zoneId, or remove it to let holt look the zone up by name.`,
        );
      }
      return found;
    }
    const listed = (await api.list("/zones", { name: zone }, ZONES_PER_PAGE))
      .map((entry) => parseZone("GET", "/zones", entry))
      .filter((z) => z.name === zone);
    const [only] = listed;
    if (only === undefined) {
      throw new HoltError(
        "HOLT_E_DNS",
        `Cloudflare has no zone "${zone}" that the API token in ${zoneRef}.apiToken can see. Add the zone to Cloudflare, give the token Zone.Zone read permission on it, or set ${zoneRef}.zoneId.`,
      );
    }
    if (listed.length > 1) {
      throw new HoltError(
        "HOLT_E_DNS",
        `Cloudflare lists ${listed.length} zones named "${zone}" (ids ${listed.map((z) => z.id).join(", ")}). Set ${zoneRef}.zoneId to the one holt should change.`,
      );
    }
    return only;
  }

  /** The zone's facts, looked up once; a failed lookup is tried again next time. */
  function zoneFacts(): Promise<{ readonly id: string; readonly nameServers: string[] }> {
    if (zoneLookup === null) {
      zoneLookup = lookUpZone();
      zoneLookup.catch(() => {
        zoneLookup = null;
      });
    }
    return zoneLookup;
  }

  async function zoneId(): Promise<string> {
    return conn.zoneId ?? (await zoneFacts()).id;
  }

  function checkInZone(name: string): string {
    const n = normalizeName(name);
    if (n !== zone && !n.endsWith(`.${zone}`)) {
      throw new HoltError(
        "HOLT_E_INTERNAL",
        `The DNS name "${n}" is not in the Cloudflare zone "${zone}"; holt picked the wrong zone for it.`,
      );
    }
    return n;
  }

  function parseRecord(path: string, value: unknown): CfRecord | null {
    if (
      !isRecord(value) ||
      typeof value.id !== "string" ||
      typeof value.name !== "string" ||
      typeof value.type !== "string" ||
      typeof value.content !== "string" ||
      typeof value.ttl !== "number"
    ) {
      throw api.odd("GET", path, "a DNS record without an id, name, type, content or ttl");
    }
    if (!RECORD_TYPES.has(value.type)) return null;
    return {
      id: value.id,
      name: normalizeName(value.name),
      type: value.type as RecordType,
      content: value.content,
      ttl: value.ttl,
      proxied: value.proxied === true,
      comment: typeof value.comment === "string" ? value.comment : null,
    };
  }

  async function listRecords(query: Record<string, string>): Promise<CfRecord[]> {
    const path = `/zones/${encodeURIComponent(await zoneId())}/dns_records`;
    const found = (await api.list(path, query)).map((entry) => parseRecord(path, entry));
    return found.filter((r): r is CfRecord => r !== null);
  }

  /** The records of one set, read now. */
  async function recordsAt(key: RecordKey): Promise<CfRecord[]> {
    const name = checkInZone(key.name);
    const found = await listRecords({ "name.exact": name, type: key.type });
    return found.filter((r) => r.name === name && r.type === key.type);
  }

  async function batch(body: {
    deletes: { id: string }[];
    patches: Record<string, unknown>[];
    posts: Record<string, unknown>[];
  }): Promise<void> {
    if (body.deletes.length + body.patches.length + body.posts.length === 0) return;
    const path = `/zones/${encodeURIComponent(await zoneId())}/dns_records/batch`;
    await api.call("POST", path, { body });
  }

  function conflict(key: RecordKey, now: RecordSet | null, expected: RecordSet | null): HoltError {
    return new HoltError(
      "HOLT_E_DNS_CONFLICT",
      `The ${key.type} record set "${key.name}" in Cloudflare zone "${zone}" changed since holt read it: it now holds ${describeSet(now)}, holt expected ${describeSet(expected)}. Nothing was changed. Run \`holt plan\` again.`,
    );
  }

  async function read(keys: readonly RecordKey[]): Promise<ObservedRecordSet[]> {
    const unique = new Map(keys.map((k) => [keyOf(k), k]));
    const sets = await Promise.all(
      [...unique.values()].map(async (k) => observe(await recordsAt(k))),
    );
    return sets.filter((s): s is ObservedRecordSet => s !== null);
  }

  return {
    kind: "cloudflare",
    zone,
    marksOwnership: true,
    read,

    async listMarked(lab) {
      const mark = ownershipComment(lab);
      // The filter ignores case; the mark does not.
      const marked = (await listRecords({ "comment.exact": mark })).filter(
        (r) => r.comment === mark,
      );
      const keys = [
        ...new Map(marked.map((r) => [keyOf(r), { name: r.name, type: r.type }])).values(),
      ];
      const sets = await read(keys);
      const order = (k: RecordKey): string => `${k.name} ${k.type}`;
      return sets.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
    },

    async upsert(set, expected) {
      const name = checkInZone(set.name);
      const key = { name, type: set.type };
      const comment = ownershipComment(set.owner);
      if (comment.length > MAX_COMMENT_CHARS) {
        throw new HoltError(
          "HOLT_E_DNS",
          `The lab name "${set.owner}" is too long for Cloudflare's record comment (holt writes "${MARK_PREFIX}<lab>", at most ${MAX_COMMENT_CHARS} characters on the Free plan). Use a shorter lab name.`,
        );
      }
      const current = await recordsAt(key);
      const now = observe(current);
      if (!sameSet(now, expected)) throw conflict(key, now, expected);

      const proxiable = set.type !== "TXT";
      const proxied = proxiable && set.proxied === true;
      const ttl = proxied ? 1 : set.ttl;
      const fields = (): Record<string, unknown> =>
        proxiable ? { ttl, proxied, comment } : { ttl, comment };

      const wanted = sortedUnique(set.values);
      const kept = new Map<string, CfRecord>();
      const spare: CfRecord[] = [];
      for (const record of current) {
        const value = recordValue(record);
        if (wanted.includes(value) && !kept.has(value)) kept.set(value, record);
        else spare.push(record);
      }
      const patches: Record<string, unknown>[] = [];
      for (const record of kept.values()) {
        const stale =
          record.ttl !== ttl ||
          record.comment !== comment ||
          (proxiable && record.proxied !== proxied);
        if (stale) patches.push({ id: record.id, name, type: set.type, ...fields() });
      }
      const posts: Record<string, unknown>[] = [];
      for (const value of wanted.filter((v) => !kept.has(v))) {
        const content = contentOf(set.type, value);
        const reuse = spare.shift();
        const record = { name, type: set.type, content, ...fields() };
        if (reuse !== undefined) patches.push({ id: reuse.id, ...record });
        else posts.push(record);
      }
      await batch({ deletes: spare.map((r) => ({ id: r.id })), patches, posts });
    },

    async remove(expected) {
      const name = checkInZone(expected.name);
      const key = { name, type: expected.type };
      const current = await recordsAt(key);
      const now = observe(current);
      if (!sameSet(now, expected)) throw conflict(key, now, expected);
      await batch({ deletes: current.map((r) => ({ id: r.id })), patches: [], posts: [] });
    },

    async addTxt(name, value, ttl) {
      const at = checkInZone(name);
      const current = await recordsAt({ name: at, type: "TXT" });
      if (current.some((r) => recordValue(r) === value)) return;
      const path = `/zones/${encodeURIComponent(await zoneId())}/dns_records`;
      await api.call("POST", path, {
        body: { name: at, type: "TXT", content: encodeTxt(value), ttl, comment: ACME_COMMENT },
      });
    },

    async removeTxt(name, value) {
      const at = checkInZone(name);
      const current = await recordsAt({ name: at, type: "TXT" });
      const id = await zoneId();
      for (const record of current.filter((r) => recordValue(r) === value)) {
        await api.call(
          "DELETE",
          `/zones/${encodeURIComponent(id)}/dns_records/${encodeURIComponent(record.id)}`,
        );
      }
    },

    async nameservers() {
      if (conn.nameservers !== null) return [...conn.nameservers];
      const { nameServers } = await zoneFacts();
      if (nameServers.length === 0) {
        throw new HoltError(
          "HOLT_E_DNS",
          `Cloudflare lists no nameservers for zone "${zone}". Set ${zoneRef}.nameservers to the servers that answer for it ("host:port").`,
        );
      }
      return nameServers.map((ns) => {
        const host = normalizeName(ns);
        return host.includes(":") ? `[${host}]:53` : `${host}:53`;
      });
    },
  };
}
