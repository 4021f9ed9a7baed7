/**
 * The DNS record set resource: one name and type in one zone, as a service's
 * hostname needs it (A/AAAA to the host, CNAME to the tunnel). It lives on
 * the edge pseudo-host: holt changes it from the machine it runs on.
 */
import type { ResolvedDnsZone, ResolvedZoneProvider } from "../config/types.ts";
import type { ZoneConnection } from "../dns/connection.ts";
import { HoltError } from "../errors.ts";
import { EDGE_HOST } from "../util/edge-host.ts";

export { EDGE_HOST };

export const DNS_RECORD_TYPE = "dns.record";

export type DnsRecordType = "A" | "AAAA" | "CNAME" | "TXT";

/** How to reach a zone: provider settings with secret names, never values. */
export interface ZoneRef {
  readonly zone: string;
  readonly view: "public" | "internal";
  readonly provider: ResolvedZoneProvider;
  readonly nameservers: readonly string[] | null;
}

export interface DnsRecordInputs {
  readonly zone: ZoneRef;
  /** Absolute, lower case, no trailing dot. */
  readonly name: string;
  readonly type: DnsRecordType;
  readonly ttl: number;
  /** Sorted. */
  readonly values: readonly string[];
  /** Cloudflare only: send traffic through Cloudflare (tunnel CNAMEs). */
  readonly proxied: boolean;
}

export function zoneRef(zone: ResolvedDnsZone): ZoneRef {
  return {
    zone: zone.zone,
    view: zone.view,
    provider: zone.provider,
    nameservers: zone.nameservers,
  };
}

export function dnsRecordAddress(view: "public" | "internal", name: string, type: string): string {
  return `${DNS_RECORD_TYPE}:${EDGE_HOST}/${view}/${name}/${type}`;
}

/** The display name: "media.lab.example.com A" (internal zones marked). */
export function dnsRecordName(view: "public" | "internal", name: string, type: string): string {
  return view === "internal" ? `${name} ${type} (internal)` : `${name} ${type}`;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The record type that points a name at `address`: A, AAAA, or CNAME for a DNS name. */
export function recordTypeFor(address: string): "A" | "AAAA" | "CNAME" {
  if (IPV4.test(address)) return "A";
  if (address.includes(":")) return "AAAA";
  return "CNAME";
}

/**
 * The dns layer's connection for a zone, with credentials looked up by
 * `secrets` (which throws a HoltError naming a missing secret); without it,
 * asking for a credential is HOLT_E_SECRETS.
 */
export function zoneConnection(
  ref: ZoneRef,
  secrets: ((name: string) => string) | undefined,
): ZoneConnection {
  const secretValue =
    secrets ??
    ((name: string): string => {
      throw new HoltError(
        "HOLT_E_SECRETS",
        `DNS credentials are needed but the lab's secrets are not open (secret "${name}" for zone "${ref.zone}"). Run holt from the lab's folder with its age key available.`,
      );
    });
  const common = { zone: ref.zone, nameservers: ref.nameservers };
  const p = ref.provider;
  switch (p.kind) {
    case "rfc2136":
      return {
        ...common,
        kind: "rfc2136",
        server: p.server,
        tsig:
          p.tsig === null
            ? null
            : {
                name: p.tsig.name,
                algorithm: p.tsig.algorithm,
                secret: secretValue(p.tsig.secret),
              },
      };
    case "powerdns":
      return {
        ...common,
        kind: "powerdns",
        url: p.url,
        apiKey: secretValue(p.apiKeySecret),
        serverId: p.serverId,
      };
    case "cloudflare":
      return {
        ...common,
        kind: "cloudflare",
        apiToken: secretValue(p.apiTokenSecret),
        apiBase: CLOUDFLARE_API,
        zoneId: p.zoneId,
      };
  }
}

export const CLOUDFLARE_API = "https://api.cloudflare.com/client/v4";
