/**
 * The edge of the lab: DNS zones (`dns`), ACME certificates (`acme`), the
 * tunnel (`edge.tunnel`), each service's exposure, and each host's tailnet
 * and public addresses. Shapes were checked by zod; this checks meaning and
 * the rules across them (a public service needs a way in, every hostname
 * needs a zone, ACME needs DNS), each problem with its path and a fix.
 */
import { isIP } from "node:net";
import { zoneFor } from "../util/zone.ts";
import { formatPath, type Problem, showValue, suggest } from "./path.ts";
import { isSecretRef } from "./secret.ts";
import type {
  ResolvedAcme,
  ResolvedDns,
  ResolvedDnsZone,
  ResolvedExposure,
  ResolvedHost,
  ResolvedService,
  ResolvedTunnel,
  ResolvedZoneProvider,
  TsigAlgorithmName,
} from "./types.ts";
import { parseDuration } from "./validate-service.ts";

type At = readonly (string | number)[];

const ZONE_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const SERVER = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+|[0-9a-fA-F:]+))(?::(\d{1,5}))?$/;
const TUNNEL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const DIRECTORY_ALIASES: Readonly<Record<string, string>> = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
};

export const DEFAULT_PUBLIC_IP_URL = "https://api.ipify.org";
export const DEFAULT_ZONE_TTL = 300;
export const DEFAULT_TUNNEL_IMAGE = "docker.io/cloudflare/cloudflared:2024.12.2";
const DEFAULT_PROPAGATION_S = 120;

/**
 * The TTLs Cloudflare's API takes: 1 ("automatic") or 60 to 86400 seconds
 * (30 on Enterprise zones, which holt does not assume). Its schema's TTL
 * description; the API refuses others with error 9021.
 */
export function isCloudflareTtl(ttl: number): boolean {
  return ttl === 1 || (Number.isInteger(ttl) && ttl >= 60 && ttl <= 86400);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** "host", "host:port", "[v6]:port" or a bare IPv6 address; null when it is none of them. */
export function parseServer(
  text: string,
  defaultPort: number,
): { host: string; port: number } | null {
  const match = SERVER.exec(text);
  if (match === null) return null;
  const bracketed = match[1];
  let host = bracketed ?? match[2] ?? "";
  let port = match[3] === undefined ? defaultPort : Number(match[3]);
  // A bare IPv6 address ("fd00::53") has colons but no brackets: no port.
  if (bracketed === undefined && host.includes(":")) return null;
  if (bracketed === undefined && isIP(text) === 6) {
    host = text;
    port = defaultPort;
  }
  if (bracketed !== undefined && isIP(bracketed) !== 6) return null;
  if (port < 1 || port > 65535) return null;
  return { host, port };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

function resolveZone(
  zone: string,
  raw: Record<string, unknown>,
  view: "public" | "internal",
  at: At,
  problems: Problem[],
): ResolvedDnsZone | null {
  if (!ZONE_NAME.test(zone)) {
    problems.push({
      path: formatPath(at),
      message: `${showValue(zone)} is not a zone name. Use the zone's apex in lower case, like "lab.example.com".`,
    });
    return null;
  }
  let provider: ResolvedZoneProvider | null = null;
  if (raw.provider === "rfc2136" && typeof raw.server === "string") {
    const server = parseServer(raw.server, 53);
    if (server === null) {
      problems.push({
        path: formatPath([...at, "server"]),
        message: `${showValue(raw.server)} is not a server address. Use "host" or "host:port", like "192.168.1.2:53".`,
      });
    }
    const tsig = isRecord(raw.tsig) ? raw.tsig : null;
    const tsigSecret = tsig !== null && isSecretRef(tsig.secret) ? tsig.secret.name : null;
    if (server !== null) {
      provider = {
        kind: "rfc2136",
        server,
        tsig:
          tsig === null || tsigSecret === null || typeof tsig.name !== "string"
            ? null
            : {
                name: tsig.name.toLowerCase().replace(/\.$/, ""),
                algorithm: (typeof tsig.algorithm === "string"
                  ? tsig.algorithm
                  : "hmac-sha256") as TsigAlgorithmName,
                secret: tsigSecret,
              },
      };
    }
  } else if (raw.provider === "powerdns" && typeof raw.url === "string") {
    if (!isHttpUrl(raw.url)) {
      problems.push({
        path: formatPath([...at, "url"]),
        message: `${showValue(raw.url)} is not an http(s) URL. Use the API's base URL, like "http://192.168.1.2:8081".`,
      });
    } else if (isSecretRef(raw.apiKey)) {
      provider = {
        kind: "powerdns",
        url: raw.url.replace(/\/+$/, ""),
        apiKeySecret: raw.apiKey.name,
        serverId: typeof raw.serverId === "string" ? raw.serverId : "localhost",
      };
    }
  } else if (raw.provider === "cloudflare" && isSecretRef(raw.apiToken)) {
    const ttl = raw.ttl;
    if (typeof ttl === "number" && !isCloudflareTtl(ttl)) {
      problems.push({
        path: formatPath([...at, "ttl"]),
        message: `${ttl} is not a TTL Cloudflare accepts: it takes 1 (automatic, 300 seconds) or 60 to 86400 seconds. Use ttl: 60 for the shortest, or 1 for automatic.`,
      });
    }
    provider = {
      kind: "cloudflare",
      apiTokenSecret: raw.apiToken.name,
      zoneId: typeof raw.zoneId === "string" ? raw.zoneId : null,
    };
  }
  let nameservers: string[] | null = null;
  if (Array.isArray(raw.nameservers)) {
    nameservers = [];
    raw.nameservers.forEach((ns, index) => {
      if (typeof ns !== "string") return;
      const parsed = parseServer(ns, 53);
      if (parsed === null) {
        problems.push({
          path: formatPath([...at, "nameservers", index]),
          message: `${showValue(ns)} is not a server address. Use "host" or "host:port".`,
        });
      } else {
        nameservers?.push(
          parsed.host.includes(":")
            ? `[${parsed.host}]:${parsed.port}`
            : `${parsed.host}:${parsed.port}`,
        );
      }
    });
  }
  if (provider === null) return null;
  return {
    zone,
    view,
    provider,
    nameservers,
    ttl: typeof raw.ttl === "number" ? raw.ttl : DEFAULT_ZONE_TTL,
    wildcard: raw.wildcard === true,
    configPath: formatPath(at),
  };
}

export function resolveDns(raw: unknown, problems: Problem[]): ResolvedDns | null {
  if (!isRecord(raw)) return null;
  const zones: ResolvedDnsZone[] = [];
  for (const view of ["public", "internal"] as const) {
    const key = view === "public" ? "zones" : "internal";
    const group = raw[key];
    if (!isRecord(group)) continue;
    for (const [zone, rawZone] of Object.entries(group)) {
      if (!isRecord(rawZone)) continue;
      const resolved = resolveZone(zone, rawZone, view, ["dns", key, zone], problems);
      if (resolved !== null) zones.push(resolved);
    }
  }
  if (isRecord(raw.zones) && Object.keys(raw.zones).length === 0) {
    problems.push({
      path: "dns.zones",
      message:
        'declares no zone. Add the zone your hostnames live in, like "lab.example.com": { provider: "rfc2136", server: "192.168.1.2" }.',
    });
  }
  const publicIpUrl = typeof raw.publicIpUrl === "string" ? raw.publicIpUrl : DEFAULT_PUBLIC_IP_URL;
  if (!isHttpUrl(publicIpUrl)) {
    problems.push({
      path: "dns.publicIpUrl",
      message: `${showValue(publicIpUrl)} is not an http(s) URL. Use a service that answers with your address in plain text, like "https://api.ipify.org".`,
    });
  }
  return { zones, publicIpUrl };
}

export function resolveAcme(
  raw: unknown,
  configDir: string,
  problems: Problem[],
): ResolvedAcme | null {
  if (!isRecord(raw)) return null;
  const email = typeof raw.email === "string" ? raw.email : "";
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
    problems.push({
      path: "acme.email",
      message: `${showValue(raw.email)} is not an email address. It is the contact address of your account at the CA.`,
    });
  }
  const directory = typeof raw.directory === "string" ? raw.directory : "letsencrypt";
  const directoryUrl = DIRECTORY_ALIASES[directory] ?? directory;
  if (!directoryUrl.startsWith("https://")) {
    problems.push({
      path: "acme.directory",
      message: `${showValue(directory)} is neither "letsencrypt", "letsencrypt-staging" nor an https:// directory URL.`,
    });
  }
  let renewBeforeMs: number | null = null;
  if (typeof raw.renewBefore === "string") {
    renewBeforeMs = parseDuration(raw.renewBefore);
    if (renewBeforeMs === null) {
      problems.push({
        path: "acme.renewBefore",
        message: `${showValue(raw.renewBefore)} is not a duration. Use a number with d, h, m or s, like "30d".`,
      });
    }
  }
  const trust = typeof raw.trust === "string" ? raw.trust : null;
  return {
    email,
    directoryUrl,
    trustFile:
      trust === null
        ? null
        : trust.startsWith("/")
          ? trust
          : `${configDir}/${trust.replace(/^\.\//, "")}`,
    renewBeforeMs,
    propagationTimeoutMs:
      (typeof raw.propagationTimeout === "number"
        ? raw.propagationTimeout
        : DEFAULT_PROPAGATION_S) * 1000,
  };
}

export function resolveTunnel(
  raw: unknown,
  hosts: Readonly<Record<string, ResolvedHost>>,
  problems: Problem[],
): ResolvedTunnel | null {
  if (!isRecord(raw) || !isRecord(raw.tunnel)) return null;
  const t = raw.tunnel;
  if (
    typeof t.accountId !== "string" ||
    typeof t.tunnelId !== "string" ||
    typeof t.host !== "string" ||
    !isSecretRef(t.token) ||
    !isSecretRef(t.apiToken)
  ) {
    return null;
  }
  if (!TUNNEL_ID.test(t.tunnelId)) {
    problems.push({
      path: "edge.tunnel.tunnelId",
      message: `${showValue(t.tunnelId)} is not a tunnel id. Use the UUID that \`cloudflared tunnel list\` or the dashboard shows.`,
    });
  }
  if (hosts[t.host] === undefined) {
    const guess = suggest(t.host, Object.keys(hosts));
    problems.push({
      path: "edge.tunnel.host",
      message: `"${t.host}" is not a host of this lab.${guess ? ` Did you mean "${guess}"?` : ""} It names the host that runs cloudflared.`,
    });
  }
  return {
    provider: "cloudflare",
    accountId: t.accountId,
    tunnelId: t.tunnelId,
    tokenSecret: t.token.name,
    apiTokenSecret: t.apiToken.name,
    host: t.host,
    image: typeof t.image === "string" ? t.image : DEFAULT_TUNNEL_IMAGE,
  };
}

/** The host's `tailnet` and `public` addresses, checked. */
export function resolveHostAddresses(
  raw: Record<string, unknown>,
  at: At,
  problems: Problem[],
): { tailnet: string | null; public: string | null } {
  const tailnet = typeof raw.tailnet === "string" ? raw.tailnet : null;
  if (tailnet !== null && isIP(tailnet) === 0) {
    problems.push({
      path: formatPath([...at, "tailnet"]),
      message: `${showValue(tailnet)} is not an IP address. Use the host's tailnet address, like "100.64.0.10".`,
    });
  }
  const pub = typeof raw.public === "string" ? raw.public : null;
  if (pub !== null && pub !== "auto" && isIP(pub) === 0) {
    problems.push({
      path: formatPath([...at, "public"]),
      message: `${showValue(pub)} is not an IP address. Use the address your router has on the internet, or "auto" to detect it.`,
    });
  }
  return { tailnet, public: pub };
}

/** A service's exposure from `expose`, `privateVia` and `publicVia`. */
export function resolveExposure(
  raw: Record<string, unknown>,
  at: At,
  hasHostname: boolean,
  hasTunnel: boolean,
  problems: Problem[],
): ResolvedExposure {
  const expose = typeof raw.expose === "string" ? raw.expose : hasHostname ? "private" : "internal";
  if (expose === "internal") {
    if (hasHostname) {
      problems.push({
        path: formatPath([...at, "expose"]),
        message:
          '"internal" services have no hostname. Remove hostname, or use expose: "private" (LAN only) or "public".',
      });
    }
  } else if (!hasHostname) {
    problems.push({
      path: formatPath([...at, "expose"]),
      message: `a ${expose} service needs a hostname (and a port) to be reached by. Add hostname: "name", or use expose: "internal".`,
    });
  }
  if (raw.privateVia !== undefined && expose !== "private") {
    problems.push({
      path: formatPath([...at, "privateVia"]),
      message: `only applies to expose: "private" (this service is ${expose}). Remove it.`,
    });
  }
  if (raw.publicVia !== undefined && expose !== "public") {
    problems.push({
      path: formatPath([...at, "publicVia"]),
      message: `only applies to expose: "public" (this service is ${expose}). Remove it.`,
    });
  }
  if (expose === "public") {
    const via =
      raw.publicVia === "direct" || raw.publicVia === "tunnel"
        ? raw.publicVia
        : hasTunnel
          ? "tunnel"
          : "direct";
    return { kind: "public", via };
  }
  if (expose === "private") {
    return { kind: "private", via: raw.privateVia === "tailnet" ? "tailnet" : "lan" };
  }
  return { kind: "internal" };
}

/** Rules across the edge: ways in, zones for every hostname, ACME needs DNS. */
export function edgeConflicts(
  hosts: Readonly<Record<string, ResolvedHost>>,
  services: Readonly<Record<string, ResolvedService>>,
  dns: ResolvedDns | null,
  acme: ResolvedAcme | null,
  tunnel: ResolvedTunnel | null,
): Problem[] {
  const problems: Problem[] = [];
  if (acme !== null && (dns === null || dns.zones.every((z) => z.view !== "public"))) {
    problems.push({
      path: "acme",
      message:
        "needs dns.zones: holt proves each hostname to the CA with a DNS-01 challenge in the hostname's public zone. Add the zone under dns.zones.",
    });
  }
  if (tunnel !== null && dns === null) {
    problems.push({
      path: "edge.tunnel",
      message:
        'needs dns.zones: the tunnel\'s hostnames are CNAME records in a zone on Cloudflare. Add the zone under dns.zones with provider: "cloudflare".',
    });
  }
  const publicZones = dns?.zones.filter((z) => z.view === "public") ?? [];
  const internalZones = dns?.zones.filter((z) => z.view === "internal") ?? [];
  for (const service of Object.values(services)) {
    const hostname = service.container?.hostname ?? null;
    const at = ["services", service.name];
    const host = hosts[service.host];
    const expose = service.expose;
    if (expose.kind === "private" && expose.via === "tailnet" && host !== undefined) {
      if (host.tailnet === null) {
        problems.push({
          path: formatPath([...at, "privateVia"]),
          message: `host "${host.name}" has no tailnet address. Set hosts.${host.name}.tailnet, like "100.64.0.10".`,
        });
      }
    }
    if (expose.kind === "public" && expose.via === "direct" && host !== undefined) {
      if (host.public === null) {
        problems.push({
          path: formatPath([...at, "expose"]),
          message: `is public and reached directly, but host "${host.name}" has no public address. Set hosts.${host.name}.public (an IP, or "auto"), or configure edge.tunnel and use publicVia: "tunnel".`,
        });
      }
    }
    if (expose.kind === "public" && expose.via === "tunnel" && tunnel === null) {
      problems.push({
        path: formatPath([...at, "publicVia"]),
        message:
          'is "tunnel" but edge.tunnel is not set. Configure edge.tunnel, or use publicVia: "direct" with a port forwarded on your router.',
      });
    }
    if (service.certificatePath !== null) {
      const path = service.certificatePath;
      const taken = [
        ...service.state.map((s) => s.path),
        ...(service.container?.mounts.map((m) => m.target) ?? []),
        ...(service.container?.secrets.filter((s) => s.kind === "file").map((s) => s.target) ?? []),
      ];
      if (!path.startsWith("/")) {
        problems.push({
          path: formatPath([...at, "certificate", "path"]),
          message: `${showValue(path)} is not an absolute path. Use the folder inside the container, like "/certs".`,
        });
      } else if (
        taken.some((t) => t === path || t.startsWith(`${path}/`) || path.startsWith(`${t}/`))
      ) {
        problems.push({
          path: formatPath([...at, "certificate", "path"]),
          message: `"${path}" overlaps a state path, mount or secret file of this service. Give the certificate a folder of its own, like "/certs".`,
        });
      }
      if (acme === null || hostname === null || service.expose.kind === "internal") {
        problems.push({
          path: formatPath([...at, "certificate"]),
          message:
            "needs a hostname and the lab's acme settings: the mounted files are the hostname's ACME certificate. Add acme (and dns), or remove certificate.",
        });
      }
    }
    if (hostname === null || dns === null) continue;
    const zone =
      expose.kind === "private"
        ? (zoneFor(hostname, internalZones) ?? zoneFor(hostname, publicZones))
        : zoneFor(hostname, publicZones);
    if (zone === undefined) {
      problems.push({
        path: formatPath([...at, "hostname"]),
        message: `"${hostname}" is in no zone of dns.zones${expose.kind === "private" ? " or dns.internal" : ""}. Add the zone it belongs to.`,
      });
    } else if (
      expose.kind === "public" &&
      expose.via === "tunnel" &&
      zone.provider.kind !== "cloudflare"
    ) {
      problems.push({
        path: formatPath([...at, "publicVia"]),
        message: `"${hostname}" is in zone "${zone.zone}" (${zone.provider.kind}), but a Cloudflare Tunnel needs its hostnames in a zone on Cloudflare. Move the zone to Cloudflare or use publicVia: "direct".`,
      });
    }
    if (acme !== null && zoneFor(hostname, publicZones) === undefined) {
      problems.push({
        path: formatPath([...at, "hostname"]),
        message: `"${hostname}" is in no public zone (dns.zones), so the CA cannot check a DNS-01 challenge for it. Add its public zone under dns.zones.`,
      });
    }
  }
  return problems;
}
