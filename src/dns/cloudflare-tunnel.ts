/**
 * A Cloudflare Tunnel (cloudflared, remotely managed) through Cloudflare's
 * API: find or create the tunnel by name, read and replace its ingress rules,
 * and fetch the run token `cloudflared tunnel run --token` needs. Also the
 * pure pieces: the ingress rules for a list of services, and the CNAME target
 * a hostname needs to reach the tunnel.
 *
 * Written against Cloudflare's documented shapes, not tested against the live
 * API (see cloudflare-api.ts). What it relies on:
 *
 * - `GET /accounts/{account_id}/cfd_tunnel?name=…&is_deleted=false` lists
 *   tunnels `{ id, name, deleted_at, … }` (API reference "List Cloudflare
 *   Tunnels"; `is_deleted` per the 2025-09 changelog "will no longer return
 *   deleted resources by default").
 * - `POST /accounts/{account_id}/cfd_tunnel` with `{ name, config_src:
 *   "cloudflare" }` creates a remotely managed tunnel (guide "Create a tunnel
 *   (API)"). Its answer also carries the token and the tunnel secret: holt
 *   reads only `id` and `name` from it.
 * - `GET`/`PUT /accounts/{account_id}/cfd_tunnel/{tunnel_id}/configurations`
 *   with `{ config: { ingress: [{ hostname, service, originRequest? }, …] } }`;
 *   `service` may be `http_status:404`, and the last rule must have no
 *   hostname (API reference "Put configuration"; cloudflared's ingress docs).
 *   A PUT replaces the whole configuration: holt owns the tunnel.
 * - `GET /accounts/{account_id}/cfd_tunnel/{tunnel_id}/token` answers the run
 *   token as a string `result` (cloudflare-typescript `TokenGetResponse =
 *   string`).
 * - A hostname reaches the tunnel by a CNAME to `<tunnel id>.cfargotunnel.com`,
 *   proxied (docs "DNS records" under Cloudflare Tunnel routing).
 *
 * The run token is a secret: it is returned to the caller and nowhere else.
 */
import { HoltError } from "../errors.ts";
import {
  type CloudflareApi,
  createCloudflareApi,
  DEFAULT_CLOUDFLARE_TIMEOUT_MS,
  type HttpMethod,
  isRecord,
} from "./cloudflare-api.ts";

export const TUNNEL_DOMAIN = "cfargotunnel.com";
/** The rule cloudflared needs last: anything no hostname rule matched gets a 404. */
export const CATCH_ALL_SERVICE = "http_status:404";

const TUNNEL_TARGET =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.cfargotunnel\.com\.?$/i;

/** The CNAME target that sends a hostname into the tunnel. */
export function tunnelCnameTarget(tunnelId: string): string {
  return `${tunnelId.toLowerCase()}.${TUNNEL_DOMAIN}`;
}

/** True for a CNAME target inside a tunnel; such a record only works proxied. */
export function isTunnelTarget(value: string): boolean {
  return TUNNEL_TARGET.test(value);
}

export interface Tunnel {
  readonly id: string;
  readonly name: string;
}

/** Settings for the connection from cloudflared to the origin (a subset of Cloudflare's `originRequest`). */
export interface OriginRequest {
  /** The TLS server name cloudflared expects from an https origin (Caddy's site name). */
  readonly originServerName?: string;
  /** Accept any certificate from the origin. */
  readonly noTLSVerify?: boolean;
}

/** One ingress rule as Cloudflare documents it; the catch-all has no hostname. */
export interface IngressRule {
  readonly hostname?: string;
  readonly service: string;
  readonly originRequest?: OriginRequest;
}

export interface TunnelService {
  readonly hostname: string;
  /** Where cloudflared sends the requests, e.g. "https://127.0.0.1:443" or "http://holt-web:8080". */
  readonly service: string;
  readonly originServerName?: string;
  readonly noTLSVerify?: boolean;
}

/** Exact names first, alphabetically; then wildcards, most labels first, so none shadows another. */
function compareHostnames(a: string, b: string): number {
  const wa = a.startsWith("*.");
  const wb = b.startsWith("*.");
  if (wa !== wb) return wa ? 1 : -1;
  if (wa) {
    const depth = b.split(".").length - a.split(".").length;
    if (depth !== 0) return depth;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function originRequestOf(service: {
  readonly originServerName?: string | undefined;
  readonly noTLSVerify?: boolean | undefined;
}): OriginRequest | undefined {
  const origin: { originServerName?: string; noTLSVerify?: boolean } = {};
  if (service.originServerName !== undefined) origin.originServerName = service.originServerName;
  if (service.noTLSVerify !== undefined) origin.noTLSVerify = service.noTLSVerify;
  return Object.keys(origin).length === 0 ? undefined : origin;
}

function rule(hostname: string | undefined, service: string, origin?: OriginRequest): IngressRule {
  // Keys in Cloudflare's documented order, so a rule reads the same everywhere.
  return {
    ...(hostname === undefined ? {} : { hostname }),
    service,
    ...(origin === undefined ? {} : { originRequest: origin }),
  };
}

/**
 * The ingress rules for these services in Cloudflare's shape: one rule per
 * hostname, in a fixed order (so the same services always give the same
 * config), then the catch-all 404.
 */
export function ingressRules(services: readonly TunnelService[]): IngressRule[] {
  const byHost = new Map<string, TunnelService>();
  for (const service of services) {
    const hostname = service.hostname.toLowerCase();
    if (byHost.has(hostname)) {
      throw new HoltError(
        "HOLT_E_INTERNAL",
        `Two tunnel ingress rules for hostname "${hostname}"; the config check should have refused this.`,
      );
    }
    byHost.set(hostname, service);
  }
  const rules = [...byHost.keys()].sort(compareHostnames).map((hostname) => {
    const service = byHost.get(hostname) as TunnelService;
    return rule(hostname, service.service, originRequestOf(service));
  });
  rules.push(rule(undefined, CATCH_ALL_SERVICE));
  return rules;
}

export interface TunnelClientOptions {
  /** @default "https://api.cloudflare.com/client/v4" */
  readonly apiBase?: string;
  /** Needs Account › Cloudflare Tunnel › Edit. */
  readonly apiToken: string;
  readonly accountId: string;
  /** Per request. @default 5000 */
  readonly timeoutMs?: number;
}

export interface TunnelClient {
  /** The live (not deleted) tunnel with this name, created (remotely managed) when there is none. */
  findOrCreateTunnel(name: string): Promise<Tunnel>;
  /** The tunnel's ingress rules as Cloudflare has them; [] for a tunnel without a configuration. */
  getIngress(tunnelId: string): Promise<IngressRule[]>;
  /** Replaces the tunnel's configuration with these rules, ending with the catch-all 404. */
  putIngress(tunnelId: string, rules: readonly IngressRule[]): Promise<void>;
  /** The run token for `cloudflared tunnel run --token`. A secret: do not log it. */
  getToken(tunnelId: string): Promise<string>;
}

function parseTunnel(api: CloudflareApi, method: HttpMethod, path: string, value: unknown): Tunnel {
  if (!isRecord(value) || typeof value.id !== "string" || typeof value.name !== "string") {
    throw api.odd(method, path, "a tunnel without an id or a name");
  }
  return { id: value.id, name: value.name };
}

function parseIngress(api: CloudflareApi, path: string, value: unknown): IngressRule[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) throw api.odd("GET", path, "an ingress that is not a list");
  return value.map((entry) => {
    if (!isRecord(entry) || typeof entry.service !== "string") {
      throw api.odd("GET", path, "an ingress rule without a service");
    }
    const hostname =
      typeof entry.hostname === "string" && entry.hostname !== "" ? entry.hostname : undefined;
    const origin = isRecord(entry.originRequest)
      ? originRequestOf({
          originServerName:
            typeof entry.originRequest.originServerName === "string"
              ? entry.originRequest.originServerName
              : undefined,
          noTLSVerify:
            typeof entry.originRequest.noTLSVerify === "boolean"
              ? entry.originRequest.noTLSVerify
              : undefined,
        })
      : undefined;
    return rule(hostname, entry.service, origin);
  });
}

export function createTunnelClient(options: TunnelClientOptions): TunnelClient {
  const { accountId } = options;
  const api = createCloudflareApi({
    apiToken: options.apiToken,
    timeoutMs: options.timeoutMs ?? DEFAULT_CLOUDFLARE_TIMEOUT_MS,
    scope: `the tunnels of Cloudflare account "${accountId}"`,
    tokenFix:
      "Check edge.tunnel.apiToken (store a new token with `holt secrets set` and the secret's name) and that the token has Account › Cloudflare Tunnel › Edit permission on this account.",
    ...(options.apiBase === undefined ? {} : { apiBase: options.apiBase }),
  });
  const base = `/accounts/${encodeURIComponent(accountId)}/cfd_tunnel`;
  const tunnelPath = (tunnelId: string): string => `${base}/${encodeURIComponent(tunnelId)}`;

  return {
    async findOrCreateTunnel(name) {
      const listed = await api.list(base, { name, is_deleted: false });
      const live = listed
        .filter(
          (entry) =>
            !isRecord(entry) || entry.deleted_at === null || entry.deleted_at === undefined,
        )
        .map((entry) => parseTunnel(api, "GET", base, entry))
        .filter((tunnel) => tunnel.name === name);
      if (live.length > 1) {
        throw new HoltError(
          "HOLT_E_DNS",
          `Cloudflare account "${accountId}" has ${live.length} tunnels named "${name}" (${live.map((t) => t.id).join(", ")}). Delete the ones holt should not use in the Zero Trust dashboard (Networks › Tunnels), or set edge.tunnel.tunnelId to the one to use.`,
        );
      }
      const [found] = live;
      if (found !== undefined) return found;
      const created = await api.call("POST", base, { body: { name, config_src: "cloudflare" } });
      return parseTunnel(api, "POST", base, created);
    },

    async getIngress(tunnelId) {
      const path = `${tunnelPath(tunnelId)}/configurations`;
      const result = await api.call("GET", path);
      if (result === null) return [];
      if (!isRecord(result)) throw api.odd("GET", path, "a configuration that is not an object");
      const config = result.config;
      if (config === null || config === undefined) return [];
      if (!isRecord(config)) throw api.odd("GET", path, "a config that is not an object");
      return parseIngress(api, path, config.ingress);
    },

    async putIngress(tunnelId, rules) {
      // The catch-all must be last and only last: drop any the caller passed, add ours.
      const ingress = rules
        .filter((r) => r.hostname !== undefined && r.hostname !== "")
        .map((r) => rule(r.hostname, r.service, r.originRequest));
      ingress.push(rule(undefined, CATCH_ALL_SERVICE));
      await api.call("PUT", `${tunnelPath(tunnelId)}/configurations`, {
        body: { config: { ingress } },
      });
    },

    async getToken(tunnelId) {
      const path = `${tunnelPath(tunnelId)}/token`;
      const token = await api.call("GET", path, { secretResult: true });
      if (typeof token !== "string" || token === "") {
        throw api.odd("GET", path, "a token that is not a non-empty string");
      }
      return token;
    },
  };
}
