/**
 * The few calls of PowerDNS' HTTP API (4.x, /api/v1) holt makes: read a
 * zone's rrsets (all, or one name) and PATCH rrsets. Turns every failure
 * into HOLT_E_DNS saying what failed and what to check; the API key goes
 * into the X-API-Key header and nowhere else. A redirect is refused, not
 * followed, so the key never goes to another address.
 */
import { HoltError } from "../errors.ts";
import type { PowerDnsConnection } from "./connection.ts";
import { isRefusedRedirect, NO_REDIRECTS } from "./http.ts";
import { zonePath } from "./records.ts";

export interface PdnsRecord {
  readonly content: string;
  readonly disabled: boolean;
}

export interface PdnsComment {
  readonly content: string;
  readonly account: string;
}

export interface PdnsRrset {
  /** Absolute, with the trailing dot, as PowerDNS writes it. */
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly records: readonly PdnsRecord[];
  readonly comments: readonly PdnsComment[];
}

export type PdnsChange =
  | {
      readonly name: string;
      readonly type: string;
      readonly changetype: "REPLACE";
      readonly ttl: number;
      readonly records: readonly PdnsRecord[];
      /** Absent: the rrset's comments stay as they are. */
      readonly comments?: readonly PdnsComment[];
    }
  | { readonly name: string; readonly type: string; readonly changetype: "DELETE" };

export interface PowerDnsApi {
  /** The zone's rrsets; with `name`, only those at that name (absolute, no trailing dot). */
  rrsets(action: string, name?: string, type?: string): Promise<PdnsRrset[]>;
  patch(action: string, changes: readonly PdnsChange[]): Promise<void>;
  /** "DNS zone "x" (powerdns, API http://...)" for messages. */
  readonly where: string;
}

export interface PowerDnsApiDeps {
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

const DEFAULT_TIMEOUT_MS = 5000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseRrset(value: unknown): PdnsRrset | null {
  if (!isObject(value)) return null;
  const { name, type, ttl, records, comments } = value;
  if (typeof name !== "string" || typeof type !== "string") return null;
  const recordList = Array.isArray(records) ? records : [];
  const commentList = Array.isArray(comments) ? comments : [];
  return {
    name,
    type,
    ttl: typeof ttl === "number" ? ttl : 0,
    records: recordList.filter(isObject).map((r) => ({
      content: typeof r.content === "string" ? r.content : "",
      disabled: r.disabled === true,
    })),
    comments: commentList.filter(isObject).map((c) => ({
      content: typeof c.content === "string" ? c.content : "",
      account: typeof c.account === "string" ? c.account : "",
    })),
  };
}

export function createPowerDnsApi(
  conn: PowerDnsConnection,
  deps: PowerDnsApiDeps = {},
): PowerDnsApi {
  const doFetch = deps.fetch ?? globalThis.fetch;
  const timeoutMs = conn.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const base = conn.url.replace(/\/+$/, "");
  const serverId = conn.serverId === "" ? "localhost" : conn.serverId;
  const zoneUrl = `${base}/api/v1/servers/${encodeURIComponent(serverId)}/zones/${encodeURIComponent(`${conn.zone}.`)}`;
  const path = zonePath(conn.zone);
  const where = `DNS zone "${conn.zone}" (powerdns, API ${base})`;

  const fail = (action: string, why: string, cause?: unknown): HoltError =>
    new HoltError(
      "HOLT_E_DNS",
      `Could not ${action} in ${where}: ${why}`,
      cause === undefined ? {} : { cause },
    );

  async function call(
    action: string,
    method: "GET" | "PATCH",
    url: string,
    body?: unknown,
  ): Promise<string> {
    let res: Response;
    try {
      res = await doFetch(url, {
        method,
        headers: {
          "X-API-Key": conn.apiKey,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        ...NO_REDIRECTS,
      });
    } catch (error) {
      if (isRefusedRedirect(error)) {
        throw fail(
          action,
          `the API answered with a redirect, which holt does not follow: it would carry the API key to another address. Set ${path}.url to the API's own address (scheme, host and port as the server listens).`,
          error,
        );
      }
      const name = (error as Error).name;
      if (name === "TimeoutError" || name === "AbortError") {
        throw fail(
          action,
          `the API did not answer within ${timeoutMs} ms. Check ${path}.url and that the PowerDNS server runs.`,
          error,
        );
      }
      const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
      const code = cause?.code ?? cause?.message ?? (error as Error).message;
      throw fail(
        action,
        `the API could not be reached (${code}). Check ${path}.url, and that pdns.conf has api=yes and webserver=yes with webserver-address, webserver-port and webserver-allow-from letting this machine in.`,
        error,
      );
    }
    const text = await res.text().catch(() => "");
    if (res.ok) return text;
    const detail = errorText(text);
    switch (res.status) {
      case 401:
      case 403:
        throw fail(
          action,
          `the API key was refused (HTTP ${res.status}). Check ${path}.apiKey (\`holt secrets set\` the key named there) against api-key in the server's pdns.conf.`,
        );
      case 404:
        throw fail(
          action,
          `the zone does not exist on that server (HTTP 404${detail === "" ? "" : `: ${detail}`}). Create it there (\`pdnsutil create-zone ${conn.zone}\`), or check the zone's name, ${path}.url and ${path}.serverId ("${serverId}").`,
        );
      case 422:
        if (/could not find domain|not found/i.test(detail)) {
          throw fail(
            action,
            `the zone does not exist on that server (${detail}). Create it there (\`pdnsutil create-zone ${conn.zone}\`), or check the zone's name in ${path}.`,
          );
        }
        if (/conflicts with pre-existing/i.test(detail)) {
          throw new HoltError(
            "HOLT_E_DNS_CONFLICT",
            `Could not ${action} in ${where}: a record of another type at that name stands in the way (a CNAME cannot share its name): ${detail}. Nothing was changed. Remove the other record, or choose another name.`,
          );
        }
        throw fail(
          action,
          `PowerDNS rejected the change (HTTP 422): ${detail || "no reason given"}.`,
        );
      default:
        throw fail(
          action,
          `the API answered HTTP ${res.status}${detail === "" ? "" : `: ${detail}`}. Check the PowerDNS server's log.`,
        );
    }
  }

  return {
    where,
    async rrsets(action, name, type) {
      const params = new URLSearchParams();
      if (name !== undefined) params.set("rrset_name", `${name}.`);
      if (name !== undefined && type !== undefined) params.set("rrset_type", type);
      const query = params.size === 0 ? "" : `?${params}`;
      const text = await call(action, "GET", `${zoneUrl}${query}`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        throw fail(
          action,
          `the answer is not PowerDNS' JSON. Check that ${path}.url points at the PowerDNS API.`,
          error,
        );
      }
      if (!isObject(body) || !Array.isArray(body.rrsets)) {
        throw fail(
          action,
          `the answer has no rrsets. Check that ${path}.url points at the PowerDNS API.`,
        );
      }
      const out: PdnsRrset[] = [];
      for (const item of body.rrsets) {
        const rrset = parseRrset(item);
        if (rrset !== null) out.push(rrset);
      }
      return out;
    },
    async patch(action, changes) {
      await call(action, "PATCH", zoneUrl, { rrsets: changes });
    },
  };
}

/** PowerDNS' {"error": "..."} body, or the first line of a plain one. Never holds the API key. */
function errorText(text: string): string {
  try {
    const body: unknown = JSON.parse(text);
    if (isObject(body) && typeof body.error === "string") return body.error;
  } catch {
    // plain text
  }
  return text.trim().split("\n")[0]?.slice(0, 300) ?? "";
}
