/**
 * The resources a lab's edge brings: per hostname a DNS record set in the
 * zone that serves it (private: the host's LAN or tailnet address, in an
 * internal zone when one covers the name; public direct: the host's public
 * address), and per host that serves hostnames one ACME certificate per
 * hostname (or per zone, with `wildcard`), which the routes use. Pure.
 */
import type { ResolvedDnsZone, ResolvedLab, ResolvedService } from "../config/types.ts";
import type { Resource } from "../engine/resource.ts";
import { zoneFor } from "../util/zone.ts";
import {
  CERTIFICATE_TYPE,
  type CertificateInputs,
  certificateAddress,
  certificateFilesDir,
  certificateFor,
} from "./certificate.ts";
import { missingSecret } from "./compile-service.ts";
import {
  DNS_RECORD_TYPE,
  type DnsRecordInputs,
  dnsRecordAddress,
  dnsRecordName,
  EDGE_HOST,
  recordTypeFor,
  zoneRef,
} from "./dns-record.ts";

export interface EdgeProblem {
  readonly path: string;
  readonly message: string;
}

export interface EdgeCompileInput {
  readonly lab: ResolvedLab;
  /** Detected public addresses of hosts with `public: "auto"`; missing: not detected (yet). */
  readonly publicAddresses?: Readonly<Record<string, string>>;
  /** Why detecting public addresses failed. */
  readonly publicAddressError?: string;
  /** Secret names the lab's secrets file holds; missing: not checked. */
  readonly secretNames?: ReadonlySet<string>;
}

/** The zone of one view that holds `name`. */
function zoneIn(
  name: string,
  zones: readonly ResolvedDnsZone[],
  view: "public" | "internal",
): ResolvedDnsZone | undefined {
  return zoneFor(
    name,
    zones.filter((z) => z.view === view),
  );
}

/** What Cloudflare's "automatic" TTL is for a record that is not proxied, and every proxied record's. */
const CLOUDFLARE_AUTO_TTL = 300;

/**
 * The TTL a record is written and read back with. On Cloudflare a proxied
 * record always has the automatic TTL, and `ttl: 1` (automatic) reads back
 * as 300 s, so both are 300 here, or the plan would never settle.
 */
function recordTtl(zone: ResolvedDnsZone, proxied: boolean): number {
  if (zone.provider.kind !== "cloudflare") return zone.ttl;
  return proxied || zone.ttl === 1 ? CLOUDFLARE_AUTO_TTL : zone.ttl;
}

/** The CNAME target of a Cloudflare Tunnel. */
export function tunnelTarget(tunnelId: string): string {
  return `${tunnelId}.cfargotunnel.com`;
}

/** Where a service's hostname points, or a problem; null when it needs no record. */
function pointAt(
  lab: ResolvedLab,
  service: ResolvedService,
  input: EdgeCompileInput,
): { value: string; proxied: boolean } | { problem: string } | null {
  const host = lab.hosts[service.host];
  if (host === undefined) return null;
  const expose = service.expose;
  switch (expose.kind) {
    case "internal":
      return null;
    case "private":
      return {
        value: expose.via === "tailnet" ? (host.tailnet ?? "") : host.address,
        proxied: false,
      };
    case "public": {
      if (expose.via === "tunnel") {
        return lab.tunnel === null
          ? null
          : { value: tunnelTarget(lab.tunnel.tunnelId), proxied: true };
      }
      if (host.public === "auto") {
        const detected = input.publicAddresses?.[host.name];
        if (detected === undefined) {
          return input.publicAddresses === undefined
            ? null
            : {
                problem: `host "${host.name}" has public: "auto" but its public address could not be detected${input.publicAddressError === undefined ? "" : ` (${input.publicAddressError})`}. Check dns.publicIpUrl, or set hosts.${host.name}.public to the address.`,
              };
        }
        return { value: detected, proxied: false };
      }
      return host.public === null ? null : { value: host.public, proxied: false };
    }
  }
}

export function compileEdge(input: EdgeCompileInput): {
  resources: Resource[];
  problems: EdgeProblem[];
  certificates: ReadonlyMap<string, string>;
} {
  const { lab } = input;
  const resources: Resource[] = [];
  const problems: EdgeProblem[] = [];
  /** "host\0hostname" → certificate address, for the routes. */
  const certificates = new Map<string, string>();
  const dns = lab.dns;

  if (dns !== null && input.secretNames !== undefined) {
    for (const zone of dns.zones) {
      const p = zone.provider;
      const [field, name] =
        p.kind === "rfc2136"
          ? ["tsig.secret", p.tsig?.secret]
          : p.kind === "powerdns"
            ? ["apiKey", p.apiKeySecret]
            : ["apiToken", p.apiTokenSecret];
      if (name !== undefined && !input.secretNames.has(name)) {
        problems.push(missingSecret(`${zone.configPath}.${field}`, name));
      }
    }
  }

  const certInputs = new Map<
    string,
    { host: string; inputs: CertificateInputs; service: string; owners: Set<string> }
  >();
  for (const name of Object.keys(lab.services).sort()) {
    const service = lab.services[name];
    const hostname = service?.container?.hostname ?? null;
    if (service === undefined || hostname === null) continue;
    const host = lab.hosts[service.host];
    if (host === undefined) continue;

    if (dns !== null) {
      const target = pointAt(lab, service, input);
      if (target !== null && "problem" in target) {
        problems.push({ path: `services.${name}.expose`, message: target.problem });
      } else if (target !== null) {
        const zone =
          service.expose.kind === "private"
            ? (zoneIn(hostname, dns.zones, "internal") ?? zoneIn(hostname, dns.zones, "public"))
            : zoneIn(hostname, dns.zones, "public");
        if (zone !== undefined) {
          const type = recordTypeFor(target.value);
          if (type === "CNAME" && !target.value.includes(".")) {
            problems.push({
              path: `hosts.${host.name}.address`,
              message: `"${target.value}" is neither an IP address nor a full DNS name, so "${hostname}" cannot point at it. Set the host's address to its LAN IP.`,
            });
          } else {
            const inputs: DnsRecordInputs = {
              zone: zoneRef(zone),
              name: hostname,
              type,
              ttl: recordTtl(zone, target.proxied),
              values: [target.value.toLowerCase()],
              proxied: target.proxied && zone.provider.kind === "cloudflare",
            };
            resources.push({
              address: dnsRecordAddress(zone.view, hostname, type),
              type: DNS_RECORD_TYPE,
              host: EDGE_HOST,
              service: name,
              name: dnsRecordName(zone.view, hostname, type),
              inputs,
              dependsOn: [],
              configPath: `services.${name}.hostname`,
            });
          }
        }
      }
    }

    // A tunnelled service on the tunnel's host is reached over the lab network,
    // and Cloudflare serves its certificate; on another host, cloudflared goes
    // through that host's Caddy and checks its certificate, so it needs one.
    const tunnelled =
      service.expose.kind === "public" &&
      service.expose.via === "tunnel" &&
      service.host === lab.tunnel?.host;
    if (lab.acme !== null && dns !== null && !tunnelled) {
      const cert = certificateFor(lab, hostname);
      const key = `${host.name}\0${cert.certName}`;
      if (!certInputs.has(key)) {
        certInputs.set(key, {
          host: host.name,
          service: name,
          owners: new Set(),
          inputs: {
            certName: cert.certName,
            names: cert.names,
            acme: lab.acme,
            zones: dns.zones.filter((z) => z.view === "public").map(zoneRef),
            proxy: host.proxy,
            files: null,
          },
        });
      }
      if (service.certificatePath !== null) {
        certInputs.get(key)?.owners.add(service.container?.user ?? "0:0");
      }
      certificates.set(`${host.name}\0${hostname}`, certificateAddress(host.name, cert.certName));
    }
  }

  for (const entry of certInputs.values()) {
    const { host, service, owners } = entry;
    // The key is readable by the one user the mounting services run as; with several, by root only.
    const owner = owners.size === 1 ? [...owners][0] : undefined;
    const inputs: CertificateInputs =
      owners.size === 0
        ? entry.inputs
        : {
            ...entry.inputs,
            files: {
              dir: certificateFilesDir(lab.name, entry.inputs.certName),
              owner: owner === undefined || owner === "0:0" ? null : ownerWithGroup(owner),
            },
          };
    const shared = inputs.certName.startsWith("*.");
    resources.push({
      address: certificateAddress(host, inputs.certName),
      type: CERTIFICATE_TYPE,
      host,
      // A zone's wildcard serves several services; it belongs to none of them.
      ...(shared ? {} : { service }),
      name: inputs.certName,
      inputs,
      dependsOn: [],
      configPath: shared ? "acme" : `services.${service}.hostname`,
    });
  }
  return { resources, problems, certificates };
}

/** "1000" → "1000:1000"; "1000:100" as is. */
function ownerWithGroup(user: string): string {
  return user.includes(":") ? user : `${user}:${user}`;
}
