/**
 * DNS record sets (`dns.record`) through the zone's provider (RFC 2136,
 * PowerDNS, Cloudflare). holt changes only record sets it created:
 *
 * - Where the provider keeps a mark beside a record set (PowerDNS comment,
 *   Cloudflare comment), the mark names the lab.
 * - Everywhere, holt's state folder lists the record sets it created, per
 *   zone (`dns/<view>/<zone>.json`). For RFC 2136, which has no marks, this
 *   list is the only proof of ownership.
 *
 * A record set that exists at a desired name and type without either is
 * someone else's: the plan shows it as a conflict and nothing touches it
 * until `holt adopt`. Writes are made only if the record set still holds
 * what was read (RFC 2136 prerequisites; a read right before the write
 * elsewhere), so a change made by hand since the plan fails the step.
 *
 * Ownership is recorded before the record is created and dropped after it is
 * deleted, so a crash in between leaves a claim the next run repairs (the
 * record is created again, or found gone), never an orphan record holt
 * would take for someone else's.
 */
import type { ObservedRecordSet, RecordKey, RecordSet, ZoneBackend } from "../../dns/types.ts";
import type {
  FieldChange,
  Observed,
  OwnedResource,
  Provider,
  ProviderContext,
  ProviderStore,
  ReadResult,
} from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import {
  DNS_RECORD_TYPE,
  type DnsRecordInputs,
  type DnsRecordType,
  dnsRecordAddress,
  dnsRecordName,
  type ZoneRef,
  zoneConnection,
} from "../../model/dns-record.ts";
import { EDGE_HOST } from "../../util/edge-host.ts";
import { cannotCoexist } from "./conflicts.ts";

export interface DnsRecordState {
  readonly zone: string;
  readonly view: "public" | "internal";
  readonly name: string;
  readonly type: DnsRecordType;
  readonly ttl: number;
  readonly values: readonly string[];
}

interface Ledger {
  readonly version: 1;
  readonly records: readonly RecordKey[];
}

export function ledgerPath(view: string, zone: string): string {
  return `dns/${view}/${zone}.json`;
}

async function readLedger(store: ProviderStore | undefined, ref: ZoneRef): Promise<RecordKey[]> {
  if (store === undefined) return [];
  const text = await store.read(ledgerPath(ref.view, ref.zone));
  if (text === null) return [];
  try {
    const parsed = JSON.parse(text) as Partial<Ledger>;
    return Array.isArray(parsed.records) ? [...parsed.records] : [];
  } catch {
    throw new HoltError(
      "HOLT_E_STATE",
      `The list of DNS records holt created in zone "${ref.zone}" (${ledgerPath(ref.view, ref.zone)} in the state directory) is damaged. Restore it from a backup, or delete it and run \`holt adopt\` for each record holt should manage.`,
    );
  }
}

/** Ledger writes in this process, one at a time per file (steps run in parallel). */
const ledgerTails = new Map<string, Promise<unknown>>();

/**
 * Adds or drops one key in the zone's ledger. Other processes are kept out by
 * the lab lock; parallel steps of this one by a queue per ledger file.
 */
function updateLedger(
  store: ProviderStore | undefined,
  ref: ZoneRef,
  key: RecordKey,
  present: boolean,
): Promise<void> {
  if (store === undefined) return Promise.resolve();
  const path = ledgerPath(ref.view, ref.zone);
  const run = (ledgerTails.get(path) ?? Promise.resolve()).then(() =>
    writeLedgerKey(store, ref, key, present),
  );
  const tail = run.catch(() => undefined);
  ledgerTails.set(path, tail);
  void tail.then(() => {
    if (ledgerTails.get(path) === tail) ledgerTails.delete(path);
  });
  return run;
}

async function writeLedgerKey(
  store: ProviderStore,
  ref: ZoneRef,
  key: RecordKey,
  present: boolean,
): Promise<void> {
  const records = (await readLedger(store, ref)).filter(
    (r) => !(r.name === key.name && r.type === key.type),
  );
  if (present) records.push({ name: key.name, type: key.type });
  records.sort((a, b) => (a.name + a.type < b.name + b.type ? -1 : 1));
  const ledger: Ledger = { version: 1, records };
  await store.write(ledgerPath(ref.view, ref.zone), `${JSON.stringify(ledger, null, 2)}\n`);
}

/** The zone's backend; the DNS layer loads on first use, so commands that never touch DNS skip it. */
async function backendFor(ctx: ProviderContext, ref: ZoneRef): Promise<ZoneBackend> {
  const { openZone } = await import("../../dns/open.ts");
  return openZone(zoneConnection(ref, ctx.secretValue));
}

function zoneKey(ref: ZoneRef): string {
  return `${ref.view}\0${ref.zone}`;
}

function stateOf(ref: ZoneRef, set: RecordSet): DnsRecordState {
  return {
    zone: ref.zone,
    view: ref.view,
    name: set.name,
    type: set.type,
    ttl: set.ttl,
    values: [...set.values].sort(),
  };
}

function setOf(state: DnsRecordState): RecordSet {
  return { name: state.name, type: state.type, ttl: state.ttl, values: state.values };
}

function ownedOf(ref: ZoneRef, set: ObservedRecordSet): OwnedResource<DnsRecordState> {
  return {
    address: dnsRecordAddress(ref.view, set.name, set.type),
    type: DNS_RECORD_TYPE,
    host: EDGE_HOST,
    name: dnsRecordName(ref.view, set.name, set.type),
    dependsOn: [],
    observed: { state: stateOf(ref, set), managed: true },
  };
}

function settingsZones(ctx: ProviderContext): ZoneRef[] {
  const settings = ctx.settings as { zones?: ZoneRef[] } | undefined;
  return settings?.zones ?? [];
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function createDnsRecordProvider(): Provider<DnsRecordInputs, DnsRecordState> {
  const provider: Provider<DnsRecordInputs, DnsRecordState> = {
    type: DNS_RECORD_TYPE,
    noun: "dns",
    holdsData: false,
    scope: "edge",

    async read(ctx, desired): Promise<ReadResult<DnsRecordState>> {
      const zones = new Map<string, ZoneRef>();
      for (const ref of settingsZones(ctx)) zones.set(zoneKey(ref), ref);
      for (const r of desired) zones.set(zoneKey(r.inputs.zone), r.inputs.zone);
      const observed = new Map<string, Observed<DnsRecordState>>();
      const owned = new Map<string, OwnedResource<DnsRecordState>>();
      await Promise.all(
        [...zones.values()].map(async (ref) => {
          const here = desired.filter((r) => zoneKey(r.inputs.zone) === zoneKey(ref));
          const ledger = await readLedger(ctx.store, ref);
          // Nothing desired, nothing recorded, no marks to list: no need to ask.
          if (here.length === 0 && ledger.length === 0 && ref.provider.kind === "rfc2136") return;
          const backend = await backendFor(ctx, ref);
          const keys = new Map<string, RecordKey>();
          for (const r of here) keys.set(`${r.inputs.name}\0${r.inputs.type}`, r.inputs);
          for (const k of ledger) keys.set(`${k.name}\0${k.type}`, k);
          const [sets, marked] = await Promise.all([
            backend.read([...keys.values()]),
            backend.marksOwnership ? backend.listMarked(ctx.lab) : Promise.resolve(null),
          ]);
          const inLedger = (s: RecordKey) =>
            ledger.some((k) => k.name === s.name && k.type === s.type);
          const ours = (s: ObservedRecordSet) =>
            inLedger(s) || (backend.marksOwnership && s.ownerMark === ctx.lab);
          for (const set of sets) {
            const address = dnsRecordAddress(ref.view, set.name, set.type);
            if (here.some((r) => r.address === address)) {
              observed.set(address, { state: stateOf(ref, set), managed: ours(set) });
            }
            if (ours(set)) owned.set(address, ownedOf(ref, set));
          }
          for (const set of marked ?? []) {
            const address = dnsRecordAddress(ref.view, set.name, set.type);
            owned.set(address, ownedOf(ref, set));
          }
        }),
      );
      return { observed, owned: [...owned.values()], problems: [] };
    },

    diff(desired, observed) {
      const fields: FieldChange[] = [];
      const want = [...desired.inputs.values].sort();
      if (!sameValues(observed.state.values, want)) {
        fields.push({
          path: "value",
          before: observed.state.values.join(", "),
          after: want.join(", "),
        });
      }
      if (observed.state.ttl !== desired.inputs.ttl) {
        fields.push({
          path: "ttl",
          before: String(observed.state.ttl),
          after: String(desired.inputs.ttl),
        });
      }
      return fields;
    },

    describe(desired) {
      const fields: FieldChange[] = [
        { path: "value", before: null, after: [...desired.inputs.values].sort().join(", ") },
        { path: "ttl", before: null, after: String(desired.inputs.ttl) },
      ];
      if (desired.inputs.proxied) fields.push({ path: "proxied", before: null, after: "yes" });
      return fields;
    },

    async create(ctx, desired) {
      await put(ctx, desired, null);
    },

    async update(ctx, desired, observed) {
      await put(ctx, desired, setOf(observed.state));
    },

    async delete(ctx, owned) {
      await remove(ctx, owned);
    },

    // A record holds no data: to stop managing it is to remove it.
    release: (ctx, owned) => remove(ctx, owned),

    async adopt(ctx, desired, observed) {
      await updateLedger(ctx.store, desired.inputs.zone, desired.inputs, true);
      await put(ctx, desired, setOf(observed.state));
    },

    // A name that moves between a CNAME and other types: the old set goes first.
    conflictsWith: (desired, removed) =>
      removed
        .filter((o) =>
          cannotCoexist(
            { ...desired.inputs, view: desired.inputs.zone.view, zone: desired.inputs.zone.zone },
            o.observed.state,
          ),
        )
        .map((o) => o.address),
  };
  return provider;
}

async function put(
  ctx: ProviderContext,
  desired: Resource<DnsRecordInputs>,
  expected: RecordSet | null,
): Promise<void> {
  const { zone, name, type, ttl, values, proxied } = desired.inputs;
  const backend = await backendFor(ctx, zone);
  if (expected === null) await updateLedger(ctx.store, zone, { name, type }, true);
  try {
    await backend.upsert(
      {
        name,
        type,
        ttl,
        values: [...values].sort(),
        owner: ctx.lab,
        ...(proxied ? { proxied } : {}),
      },
      expected,
    );
  } catch (error) {
    // Not ours after all (made by hand since the plan): give up the claim.
    if (expected === null && error instanceof HoltError && error.code === "HOLT_E_DNS_CONFLICT") {
      await updateLedger(ctx.store, zone, { name, type }, false);
    }
    throw error;
  }
}

async function remove(ctx: ProviderContext, owned: OwnedResource<DnsRecordState>): Promise<void> {
  const state = owned.observed.state;
  const ref = refFromSettings(ctx, state);
  const backend = await backendFor(ctx, ref);
  await backend.remove(setOf(state));
  await updateLedger(ctx.store, ref, { name: state.name, type: state.type }, false);
}

function refFromSettings(ctx: ProviderContext, state: DnsRecordState): ZoneRef {
  const ref = settingsZones(ctx).find((z) => z.zone === state.zone && z.view === state.view);
  if (ref === undefined) {
    throw new HoltError(
      "HOLT_E_DNS",
      `holt created ${state.name} ${state.type} in zone "${state.zone}", which is no longer in dns.${state.view === "public" ? "zones" : "internal"}, so it cannot remove it. Put the zone back until the record is gone, or delete the record by hand.`,
    );
  }
  return ref;
}
