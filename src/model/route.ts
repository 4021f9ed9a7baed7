/**
 * The HTTPS route resource as the model emits it: one per hostname, on the
 * host whose Caddy serves it, reverse-proxying to the service's loopback port.
 */

export const ROUTE_TYPE = "caddy.route";

/** How holt reaches a host's Caddy and which ports it serves. */
export interface ProxyEndpoint {
  /** Admin API address on the host, e.g. "127.0.0.1:2019", or "unix//run/caddy/admin.sock". */
  readonly adminAddress: string;
  /** null for a Unix socket. */
  readonly adminPort: number | null;
  readonly httpsPort: number;
  readonly httpPort: number;
}

export interface RouteInputs {
  /** Fully qualified hostname, e.g. "media.lab.example.com". */
  readonly hostname: string;
  readonly service: string;
  /** Where Caddy sends requests: the service's published loopback port. */
  readonly upstream: { readonly address: string; readonly port: number };
  /**
   * "internal": Caddy's local CA. `{ certificate }`: the ACME certificate of
   * that name, which the `tls.certificate` resource loads into Caddy.
   */
  readonly tls: "internal" | { readonly certificate: string };
  readonly proxy: ProxyEndpoint;
}

/** The `@id` of a route holt manages: `holt:<lab>:<hostname>`. */
export function routeId(lab: string, hostname: string): string {
  return `${ROUTE_ID_PREFIX}${lab}:${hostname}`;
}

/** Every `@id` holt writes into Caddy's config starts with this. */
export const ROUTE_ID_PREFIX = "holt:";

export function routeAddress(host: string, hostname: string): string {
  return `${ROUTE_TYPE}:${host}/${hostname}`;
}
