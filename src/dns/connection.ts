/**
 * How to reach one zone's DNS provider, with credentials already resolved
 * from the lab's secrets. Built by the caller from `dns.zones[zone]` in the
 * config; the dns layer never sees the config or the secrets file.
 *
 * Credential values live only in these objects: never put them in an error
 * message, a log line or anything returned to a caller.
 */

export type TsigAlgorithm =
  | "hmac-md5"
  | "hmac-sha1"
  | "hmac-sha224"
  | "hmac-sha256"
  | "hmac-sha384"
  | "hmac-sha512";

export interface TsigKey {
  /** Key name as the server knows it, e.g. "holt". */
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  /** The shared secret, base64 as in BIND/Knot key files. */
  readonly secret: string;
}

interface CommonConnection {
  /** The zone apex, lower case, no trailing dot. */
  readonly zone: string;
  /**
   * Servers ("host:port") to wait on after a change, instead of the zone's
   * NS records. For a hidden primary, or test servers on high ports.
   */
  readonly nameservers: readonly string[] | null;
  /** Per request. @default 5000 */
  readonly timeoutMs?: number;
}

export interface Rfc2136Connection extends CommonConnection {
  readonly kind: "rfc2136";
  /** The primary that accepts updates: host (IPv4, IPv6 or name) and port. */
  readonly server: { readonly host: string; readonly port: number };
  /** null: unsigned updates (only for servers that allow them by address). */
  readonly tsig: TsigKey | null;
}

export interface PowerDnsConnection extends CommonConnection {
  readonly kind: "powerdns";
  /** The API's base URL, e.g. "http://192.168.1.2:8081". */
  readonly url: string;
  readonly apiKey: string;
  /** @default "localhost" */
  readonly serverId: string;
}

export interface CloudflareConnection extends CommonConnection {
  readonly kind: "cloudflare";
  readonly apiToken: string;
  /** @default "https://api.cloudflare.com/client/v4" (tests point it at a local contract server) */
  readonly apiBase: string;
  /** Looked up by zone name when null. */
  readonly zoneId: string | null;
}

export type ZoneConnection = Rfc2136Connection | PowerDnsConnection | CloudflareConnection;
