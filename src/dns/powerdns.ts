/**
 * The PowerDNS backend, over its HTTP API. The ownership mark is a comment
 * on the rrset ("holt:lab=<lab>", account "holt"); other comments are kept.
 *
 * The API has no compare-and-swap, so every change reads the rrset right
 * before writing it and refuses (HOLT_E_DNS_CONFLICT) when it no longer
 * holds what the caller expected. A change made between that read and the
 * write is not detected; the window is one HTTP round trip. TXT values
 * added and removed one at a time are serialized per name within this
 * process, so two challenges at one name do not overwrite each other.
 */
import { HoltError } from "../errors.ts";
import type { PowerDnsConnection } from "./connection.ts";
import {
  createPowerDnsApi,
  type PdnsComment,
  type PdnsRrset,
  type PowerDnsApiDeps,
} from "./powerdns-api.ts";
import { fromContent, toContent } from "./powerdns-content.ts";
import { resolveNameservers } from "./propagation.ts";
import {
  assertSameKey,
  canonicalValues,
  describeKey,
  isInZone,
  normalizeName,
  readInBatches,
  sameValues,
  valuesFromServer,
} from "./records.ts";
import type { ObservedRecordSet, RecordKey, RecordSet, RecordType, ZoneBackend } from "./types.ts";

const RECORD_TYPES: readonly string[] = ["A", "AAAA", "CNAME", "TXT"] satisfies RecordType[];
const MARK_ACCOUNT = "holt";
const MARK_PREFIX = "holt:lab=";
const READ_CONCURRENCY = 8;

function isRecordType(type: string): type is RecordType {
  return RECORD_TYPES.includes(type);
}

function markOf(comments: readonly PdnsComment[]): string | null {
  for (const comment of comments) {
    if (comment.content.startsWith(MARK_PREFIX)) return comment.content.slice(MARK_PREFIX.length);
  }
  return null;
}

/** An rrset as holt sees it: enabled records only; null when it has none (a comment alone, say). */
function observe(rrset: PdnsRrset): ObservedRecordSet | null {
  if (!isRecordType(rrset.type)) return null;
  const type = rrset.type;
  const values = valuesFromServer(
    type,
    rrset.records.filter((r) => !r.disabled).map((r) => fromContent(type, r.content)),
  );
  if (values.length === 0) return null;
  return {
    name: normalizeName(rrset.name),
    type,
    ttl: rrset.ttl,
    values,
    ownerMark: markOf(rrset.comments),
  };
}

function shown(values: readonly string[]): string {
  if (values.length === 0) return "nothing";
  return values.map((v) => JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)).join(", ");
}

export function createPowerDnsBackend(
  conn: PowerDnsConnection,
  deps: PowerDnsApiDeps = {},
): ZoneBackend {
  const zone = normalizeName(conn.zone);
  const api = createPowerDnsApi({ ...conn, zone }, deps);
  const where = api.where;
  const txtLocks = new Map<string, Promise<unknown>>();

  const checkName = (name: string): void => {
    if (!isInZone(name, zone)) {
      throw new HoltError(
        "HOLT_E_DNS",
        `The record name "${name}" is not inside ${where}. Use a name ending in ".${zone}", or add a zone for it under dns.zones.`,
      );
    }
  };

  /** The rrset at name/type as it is now (the raw one, for its comments), or null. */
  async function current(action: string, key: RecordKey): Promise<PdnsRrset | null> {
    const all = await api.rrsets(action, key.name, key.type);
    // PowerDNS 4.7 lists comments of other rrsets too when filtering: match name and type here.
    return (
      all.find(
        (r) => normalizeName(r.name) === key.name && r.type === key.type && r.records.length > 0,
      ) ?? null
    );
  }

  /** Throws HOLT_E_DNS_CONFLICT unless the rrset holds exactly what the caller expected. */
  function checkExpected(action: string, now: PdnsRrset | null, expected: RecordSet | null): void {
    const nowValues = now === null ? [] : (observe(now)?.values ?? []);
    const wanted = expected === null ? [] : canonicalValues(expected.type, expected.values);
    if (sameValues(nowValues, wanted)) return;
    throw new HoltError(
      "HOLT_E_DNS_CONFLICT",
      `Could not ${action} in ${where}: the record set changed since holt read it (it holds ${shown(nowValues)}; holt read ${shown(wanted)}). Nothing was changed. Run \`holt plan\` again to see what the zone holds now.`,
    );
  }

  /** Runs TXT read-modify-writes at one name one after another. */
  function serialized<T>(name: string, work: () => Promise<T>): Promise<T> {
    const before = txtLocks.get(name) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.catch(() => {});
    txtLocks.set(name, settled);
    void settled.then(() => {
      if (txtLocks.get(name) === settled) txtLocks.delete(name);
    });
    return run;
  }

  async function readOne(key: RecordKey): Promise<ObservedRecordSet | null> {
    checkName(key.name);
    const rrset = await current(`read ${describeKey(key)}`, key);
    return rrset === null ? null : observe(rrset);
  }

  async function lookup(name: string, type: "NS" | "A" | "AAAA"): Promise<string[]> {
    const all = await api.rrsets("look up its name servers", name, type);
    return all
      .filter((r) => normalizeName(r.name) === name && r.type === type)
      .flatMap((r) => r.records.filter((rec) => !rec.disabled).map((rec) => rec.content.trim()))
      .map((content) => (type === "NS" ? normalizeName(content) : content));
  }

  return {
    kind: "powerdns",
    zone,
    marksOwnership: true,

    read: (keys) => readInBatches(keys, readOne, READ_CONCURRENCY),

    async listMarked(lab) {
      const all = await api.rrsets(`list the records of lab "${lab}"`);
      const out: ObservedRecordSet[] = [];
      for (const rrset of all) {
        const set = observe(rrset);
        if (set !== null && set.ownerMark === lab) out.push(set);
      }
      return out.sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
    },

    async upsert(set, expected) {
      assertSameKey(set, expected);
      checkName(set.name);
      const action = `set ${describeKey(set)}`;
      const values = canonicalValues(set.type, set.values);
      if (values.length === 0) {
        throw new HoltError(
          "HOLT_E_INTERNAL",
          `upsert of ${describeKey(set)} with no values; use remove.`,
        );
      }
      const now = await current(action, set);
      checkExpected(action, now, expected);
      const kept = (now?.comments ?? []).filter(
        (c) => c.account !== MARK_ACCOUNT && !c.content.startsWith(MARK_PREFIX),
      );
      await api.patch(action, [
        {
          name: `${set.name}.`,
          type: set.type,
          changetype: "REPLACE",
          ttl: set.ttl,
          records: values.map((value) => ({
            content: toContent(set.type, value),
            disabled: false,
          })),
          comments: [...kept, { content: `${MARK_PREFIX}${set.owner}`, account: MARK_ACCOUNT }],
        },
      ]);
    },

    async remove(expected) {
      checkName(expected.name);
      const action = `delete ${describeKey(expected)}`;
      const now = await current(action, expected);
      checkExpected(action, now, expected);
      await api.patch(action, [
        { name: `${expected.name}.`, type: expected.type, changetype: "DELETE" },
      ]);
    },

    addTxt(name, value, ttl) {
      checkName(name);
      const action = `add a TXT value at ${name}`;
      return serialized(name, async () => {
        const now = await current(action, { name, type: "TXT" });
        const values = now === null ? [] : (observe(now)?.values ?? []);
        if (values.includes(value) && now?.ttl === ttl) return;
        const next = [...new Set([...values, value])].sort();
        await api.patch(action, [
          {
            name: `${name}.`,
            type: "TXT",
            changetype: "REPLACE",
            ttl,
            records: next.map((v) => ({ content: toContent("TXT", v), disabled: false })),
          },
        ]);
      });
    },

    removeTxt(name, value) {
      checkName(name);
      const action = `remove a TXT value at ${name}`;
      return serialized(name, async () => {
        const now = await current(action, { name, type: "TXT" });
        const values = now === null ? [] : (observe(now)?.values ?? []);
        if (now === null || !values.includes(value)) return;
        const rest = values.filter((v) => v !== value);
        await api.patch(action, [
          rest.length === 0
            ? { name: `${name}.`, type: "TXT", changetype: "DELETE" }
            : {
                name: `${name}.`,
                type: "TXT",
                changetype: "REPLACE",
                ttl: now.ttl,
                records: rest.map((v) => ({ content: toContent("TXT", v), disabled: false })),
              },
        ]);
      });
    },

    nameservers() {
      return resolveNameservers(conn, { zoneLookup: lookup });
    },
  };
}
