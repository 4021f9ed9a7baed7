/**
 * What `holt dns` and `holt certs` show: the lab's DNS record sets and
 * certificates as they are, next to what the config wants, from one read of
 * the DNS providers, the hosts' Caddy and holt's state folder. Nothing here
 * changes anything.
 */
import type { ResolvedLab } from "../config/types.ts";
import type { Observed, Provider, ProviderStore } from "../engine/provider.ts";
import { readActual } from "../engine/read.ts";
import type { Resource } from "../engine/resource.ts";
import type { Connections } from "../hosts/connect.ts";
import {
  CERTIFICATE_TYPE,
  type CertificateInputs,
  type CertificateState,
} from "../model/certificate.ts";
import { compileLab } from "../model/compile.ts";
import { DNS_RECORD_TYPE, type DnsRecordInputs } from "../model/dns-record.ts";
import { detectPublicAddresses, hostConnections, readLabFacts } from "./plan.ts";
import type { LabSecrets } from "./secrets.ts";

export interface EdgeStatusOptions {
  readonly connections: Connections;
  readonly providers: readonly Provider[];
  readonly secrets: LabSecrets;
  readonly store: ProviderStore;
}

export interface DnsRecordStatus {
  readonly service: string | null;
  readonly zone: string;
  readonly view: "public" | "internal";
  readonly name: string;
  readonly type: string;
  /** What the config wants; empty for a record holt created that is no longer wanted. */
  readonly want: readonly string[];
  /** What the provider serves; null when absent. */
  readonly have: readonly string[] | null;
  /**
   * "in sync", "missing" (apply creates it), "drift" (apply corrects it),
   * "conflict" (someone else's record is there; holt leaves it), "stale"
   * (holt's, no longer wanted; apply removes it).
   */
  readonly status: "in sync" | "missing" | "drift" | "conflict" | "stale";
  readonly drift: readonly string[];
}

export interface CertificateStatus {
  readonly name: string;
  readonly names: readonly string[];
  readonly hosts: readonly { readonly host: string; readonly loaded: boolean }[];
  readonly issuer: string | null;
  readonly notAfter: string | null;
  readonly renewAt: string | null;
  readonly due: boolean;
  readonly sha256: string | null;
}

async function readEdge(lab: ResolvedLab, options: EdgeStatusOptions, types: readonly string[]) {
  const hosts = hostConnections(lab).map((h) => h.name);
  const [facts, publicAddresses] = await Promise.all([
    readLabFacts(lab, options.connections),
    detectPublicAddresses(lab),
  ]);
  const { graph } = compileLab(lab, facts, {
    secrets: options.secrets.digests,
    ...(publicAddresses === undefined ? {} : { publicAddresses: publicAddresses.addresses }),
  });
  const providers = options.providers.filter((p) => types.includes(p.type));
  const actual = await readActual(
    { ...graph, resources: graph.resources.filter((r) => types.includes(r.type)) },
    {
      providers,
      hosts,
      execFor: (host) => options.connections.execFor(host),
      secretValue: (name) => options.secrets.value(name),
      store: options.store,
    },
  );
  return { graph, actual, providers };
}

export async function labDnsRecords(
  lab: ResolvedLab,
  options: EdgeStatusOptions,
): Promise<DnsRecordStatus[]> {
  if (lab.dns === null) return [];
  const { graph, actual, providers } = await readEdge(lab, options, [DNS_RECORD_TYPE]);
  const provider = providers[0];
  const out: DnsRecordStatus[] = [];
  const desired = graph.resources.filter(
    (r): r is Resource<DnsRecordInputs> => r.type === DNS_RECORD_TYPE,
  );
  for (const r of desired) {
    const o = actual.observed.get(r.address) as Observed<{ values: string[] }> | undefined;
    const drift = o === undefined || provider === undefined ? [] : provider.diff(r, o);
    const status =
      o === undefined
        ? "missing"
        : !o.managed
          ? "conflict"
          : drift.length > 0
            ? "drift"
            : "in sync";
    out.push({
      service: r.service ?? null,
      zone: r.inputs.zone.zone,
      view: r.inputs.zone.view,
      name: r.inputs.name,
      type: r.inputs.type,
      want: r.inputs.values,
      have: o === undefined ? null : o.state.values,
      status,
      drift: drift.map((f) => `${f.path}: ${f.before ?? "(none)"} → ${f.after ?? "(none)"}`),
    });
  }
  const wanted = new Set(desired.map((r) => r.address));
  for (const owned of actual.owned) {
    if (owned.type !== DNS_RECORD_TYPE || wanted.has(owned.address)) continue;
    const s = owned.observed.state as {
      zone: string;
      view: "public" | "internal";
      name: string;
      type: string;
      values: string[];
    };
    out.push({
      service: null,
      zone: s.zone,
      view: s.view,
      name: s.name,
      type: s.type,
      want: [],
      have: s.values,
      status: "stale",
      drift: [],
    });
  }
  return out.sort((a, b) => (a.name + a.type < b.name + b.type ? -1 : 1));
}

export async function labCertificates(
  lab: ResolvedLab,
  options: EdgeStatusOptions,
): Promise<CertificateStatus[]> {
  if (lab.acme === null) return [];
  const { graph, actual } = await readEdge(lab, options, [CERTIFICATE_TYPE]);
  const byName = new Map<
    string,
    {
      names: readonly string[];
      hosts: { host: string; loaded: boolean }[];
      observed: CertificateState | null;
    }
  >();
  for (const r of graph.resources) {
    if (r.type !== CERTIFICATE_TYPE) continue;
    const inputs = r.inputs as CertificateInputs;
    const o = actual.observed.get(r.address)?.state as CertificateState | undefined;
    const entry = byName.get(inputs.certName) ?? { names: inputs.names, hosts: [], observed: null };
    const loaded = o?.loaded != null && o.loaded === o.stored?.sha256;
    entry.hosts.push({ host: r.host, loaded });
    if (o?.stored != null) entry.observed = o;
    byName.set(inputs.certName, entry);
  }
  return [...byName.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, e]) => ({
      name,
      names: e.names,
      hosts: e.hosts,
      issuer: e.observed?.stored?.issuer ?? null,
      notAfter: e.observed?.stored?.notAfter ?? null,
      renewAt: e.observed?.stored?.renewAt ?? null,
      due: e.observed?.due ?? false,
      sha256: e.observed?.stored?.sha256 ?? null,
    }));
}
