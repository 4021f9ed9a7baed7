/**
 * The few shapes of Caddy's JSON config that holt reads and edits, with
 * forgiving accessors: the config belongs to the user and may hold anything,
 * so nothing here assumes a field has the type Caddy's docs give it.
 */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function objectAt(value: Json | undefined): JsonObject | undefined {
  return isObject(value) ? value : undefined;
}

export function arrayAt(value: Json | undefined): Json[] {
  return Array.isArray(value) ? value : [];
}

/** The object under `key`, created (replacing a non-object) when missing. */
export function childObject(parent: JsonObject, key: string): JsonObject {
  const existing = parent[key];
  if (isObject(existing)) return existing;
  const created: JsonObject = {};
  parent[key] = created;
  return created;
}

/** The array under `key`, created (replacing a non-array) when missing. */
export function childArray(parent: JsonObject, key: string): Json[] {
  const existing = parent[key];
  if (Array.isArray(existing)) return existing;
  const created: Json[] = [];
  parent[key] = created;
  return created;
}

/** Caddy's object ids live in the `@id` field of any object. */
export const ID_KEY = "@id";

export function idOf(value: Json | undefined): string | undefined {
  const id = objectAt(value)?.[ID_KEY];
  return typeof id === "string" ? id : undefined;
}

/**
 * Whether a Caddy listener address (`:443`, `0.0.0.0:443`, `[::]:443`,
 * `tcp/:443`, `:443-445`) includes TCP port `port`. Unix sockets and UDP
 * listeners never do.
 */
export function listensOnPort(listen: string, port: number): boolean {
  let address = listen;
  const slash = /^([a-z0-9]+)\//.exec(address);
  if (slash !== null) {
    const network = slash[1] ?? "";
    if (network !== "tcp" && network !== "tcp4" && network !== "tcp6") return false;
    address = address.slice(slash[0].length);
  }
  const colon = address.lastIndexOf(":");
  if (colon < 0) return false;
  const range = /^(\d+)(?:-(\d+))?$/.exec(address.slice(colon + 1));
  if (range === null) return false;
  const first = Number(range[1]);
  const last = range[2] === undefined ? first : Number(range[2]);
  return port >= first && port <= last;
}

/** `host:port`, with brackets around an IPv6 address. */
export function joinHostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Splits `host:port` or `[v6]:port`; undefined when there is no numeric port. */
export function splitHostPort(value: string): { address: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { address: match[1] ?? match[2] ?? "", port };
}

/**
 * Caddy 2.6's config ETag is `"<path> <hash>"` with the 32-bit FNV-1a hash of
 * the exact body a GET returns. 2.6 sends it as an HTTP trailer, which a
 * transport may not pass on; this recomputes it from the body.
 */
export function caddy26Etag(path: string, body: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(body)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `"${path} ${hash.toString(16).padStart(8, "0")}"`;
}
