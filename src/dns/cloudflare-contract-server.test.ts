/**
 * A local stand-in for Cloudflare's API v4, for the contract tests of
 * cloudflare-api.ts, cloudflare.ts and cloudflare-tunnel.ts. It follows
 * Cloudflare's documented request and answer shapes (the envelope, result_info
 * pagination, DNS records with comments, the batch endpoint, tunnels and their
 * configurations and tokens); it is not the live API and cannot prove that the
 * live API behaves the same. Where the documents say nothing (exact error
 * codes of validation failures), it picks something plausible.
 *
 * This file holds no tests; the cloudflare*.test.ts files import it.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied: boolean;
  comment: string | null;
  tags: string[];
}

export interface FakeZone {
  readonly id: string;
  readonly name: string;
  readonly name_servers: string[];
}

export interface FakeTunnel {
  readonly id: string;
  readonly name: string;
  deleted_at: string | null;
  config: unknown;
  readonly token: string;
}

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
}

/** An answer to send instead of the normal one, once, for the next request that matches. */
export interface Override {
  readonly match: (request: LoggedRequest) => boolean;
  readonly status?: number;
  /** A raw body; when absent, `json` is sent. */
  readonly body?: string;
  readonly json?: unknown;
  /** Wait this long before answering (to trip a client timeout). */
  readonly delayMs?: number;
  /** Extra response headers, like `retry-after`. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ContractServer {
  readonly url: string;
  readonly token: string;
  readonly accountId: string;
  readonly zones: FakeZone[];
  /** Records by zone id. */
  readonly records: Map<string, FakeRecord[]>;
  readonly tunnels: FakeTunnel[];
  readonly log: LoggedRequest[];
  /** The most records any page holds, whatever per_page asks for (the real API clamps too). */
  maxPerPage: number;
  readonly overrides: Override[];
  addRecord(
    zoneId: string,
    record: Omit<FakeRecord, "id" | "tags"> & { tags?: string[] },
  ): FakeRecord;
  close(): Promise<void>;
}

function newId(): string {
  return randomBytes(16).toString("hex");
}

function envelope(result: unknown, resultInfo?: unknown): unknown {
  return resultInfo === undefined
    ? { success: true, errors: [], messages: [], result }
    : { success: true, errors: [], messages: [], result, result_info: resultInfo };
}

function failure(code: number, message: string): unknown {
  return { success: false, errors: [{ code, message }], messages: [], result: null };
}

class Refusal extends Error {
  readonly status: number;
  readonly code: number;

  constructor(status: number, code: number, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Refusal(400, 1004, "DNS Validation Error: the body is not an object");
  }
  return value as Record<string, unknown>;
}

export async function startContractServer(
  options: { zones?: { name: string; name_servers?: string[] }[] } = {},
): Promise<ContractServer> {
  const token = `cf-test-token-${newId()}`;
  const accountId = newId();
  const zones: FakeZone[] = (options.zones ?? [{ name: "lab.example.com" }]).map((z) => ({
    id: newId(),
    name: z.name,
    name_servers: z.name_servers ?? ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
  }));
  const records = new Map<string, FakeRecord[]>(zones.map((z) => [z.id, []]));
  const tunnels: FakeTunnel[] = [];
  const log: LoggedRequest[] = [];
  const overrides: Override[] = [];

  const state = { maxPerPage: 100 };

  function page<T>(items: readonly T[], query: URLSearchParams, withTotalPages: boolean) {
    const asked = Number(query.get("per_page") ?? "100");
    const perPage = Math.max(1, Math.min(Number.isFinite(asked) ? asked : 100, state.maxPerPage));
    const pageNo = Math.max(1, Number(query.get("page") ?? "1"));
    const slice = items.slice((pageNo - 1) * perPage, pageNo * perPage);
    const info: Record<string, number> = {
      page: pageNo,
      per_page: perPage,
      count: slice.length,
      total_count: items.length,
    };
    if (withTotalPages) info.total_pages = Math.max(1, Math.ceil(items.length / perPage));
    return envelope(slice, info);
  }

  function validateRecord(input: Record<string, unknown>, partial: boolean): Partial<FakeRecord> {
    const out: Partial<FakeRecord> = {};
    for (const key of ["name", "type", "content"] as const) {
      const value = input[key];
      if (value === undefined && partial) continue;
      if (typeof value !== "string" || value === "") {
        throw new Refusal(
          400,
          9000 + (key === "content" ? 5 : 7),
          `DNS Validation Error: ${key} is required`,
        );
      }
      out[key] = key === "name" ? value.toLowerCase() : value;
    }
    if (input.ttl !== undefined) {
      const ttl = input.ttl;
      if (typeof ttl !== "number" || (ttl !== 1 && (ttl < 60 || ttl > 86400))) {
        throw new Refusal(
          400,
          9021,
          "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
        );
      }
      out.ttl = ttl;
    }
    if (input.proxied !== undefined) {
      if (typeof input.proxied !== "boolean")
        throw new Refusal(400, 9003, "Invalid 'proxied' value");
      out.proxied = input.proxied;
    }
    if (input.comment !== undefined) {
      if (typeof input.comment !== "string" || input.comment.length > 100) {
        throw new Refusal(400, 9100, "DNS record comment too long (Free plan: 100 characters)");
      }
      out.comment = input.comment;
    }
    if (input.tags !== undefined) {
      throw new Refusal(400, 9101, "DNS record tags are not available on the Free plan");
    }
    return out;
  }

  function complete(zoneId: string, fields: Partial<FakeRecord>, id?: string): FakeRecord {
    const record: FakeRecord = {
      id: id ?? newId(),
      name: fields.name ?? "",
      type: fields.type ?? "",
      content: fields.content ?? "",
      ttl: fields.ttl ?? 1,
      proxied: fields.proxied ?? false,
      comment: fields.comment ?? null,
      tags: [],
    };
    if (record.proxied) {
      if (record.type !== "A" && record.type !== "AAAA" && record.type !== "CNAME") {
        throw new Refusal(400, 9004, `${record.type} records cannot be proxied`);
      }
      record.ttl = 1; // proxied records always have automatic TTL
    }
    const zone = zones.find((z) => z.id === zoneId);
    if (
      zone === undefined ||
      !(record.name === zone.name || record.name.endsWith(`.${zone.name}`))
    ) {
      throw new Refusal(400, 9007, "Content for name is not in the zone");
    }
    return record;
  }

  function zoneRecords(zoneId: string): FakeRecord[] {
    const list = records.get(zoneId);
    if (list === undefined)
      throw new Refusal(
        404,
        7003,
        "Could not route to /zones/…, perhaps your object identifier is invalid?",
      );
    return list;
  }

  function route(method: string, parts: string[], query: URLSearchParams, body: unknown): unknown {
    const [a, b, c, d, e] = parts;
    if (a === "zones" && b === undefined && method === "GET") {
      const name = query.get("name");
      const found = zones.filter((z) => name === null || z.name === name.toLowerCase());
      return page(found, query, true);
    }
    if (a === "zones" && b !== undefined && c === undefined && method === "GET") {
      const zone = zones.find((z) => z.id === b);
      if (zone === undefined) throw new Refusal(404, 1001, "Invalid zone identifier");
      return envelope(zone);
    }
    if (a === "zones" && b !== undefined && c === "dns_records") {
      const list = zoneRecords(b);
      if (d === undefined && method === "GET") {
        const name = (query.get("name.exact") ?? query.get("name"))?.toLowerCase();
        const type = query.get("type");
        const comment = query.get("comment.exact")?.toLowerCase();
        const found = list.filter(
          (r) =>
            (name === undefined || r.name === name) &&
            (type === null || r.type === type) &&
            (comment === undefined || r.comment?.toLowerCase() === comment),
        );
        return page(found, query, true);
      }
      if (d === undefined && method === "POST") {
        const record = complete(b, validateRecord(asObject(body), false));
        list.push(record);
        return envelope(record);
      }
      if (d === "batch" && method === "POST") {
        const input = asObject(body);
        // One transaction: work on a copy, keep it only when every change passed.
        const copy = list.map((r) => ({ ...r }));
        const done = {
          deletes: [] as FakeRecord[],
          patches: [] as FakeRecord[],
          puts: [] as FakeRecord[],
          posts: [] as FakeRecord[],
        };
        const byId = (id: unknown): FakeRecord => {
          const found = copy.find((r) => r.id === id);
          if (found === undefined)
            throw new Refusal(400, 81044, `Record does not exist: ${String(id)}`);
          return found;
        };
        for (const del of (input.deletes as unknown[] | undefined) ?? []) {
          const record = byId(asObject(del).id);
          copy.splice(copy.indexOf(record), 1);
          done.deletes.push(record);
        }
        for (const patch of (input.patches as unknown[] | undefined) ?? []) {
          const fields = asObject(patch);
          const record = byId(fields.id);
          const merged = complete(b, { ...record, ...validateRecord(fields, true) }, record.id);
          copy.splice(copy.indexOf(record), 1, merged);
          done.patches.push(merged);
        }
        for (const put of (input.puts as unknown[] | undefined) ?? []) {
          const fields = asObject(put);
          const record = byId(fields.id);
          const replaced = complete(b, validateRecord(fields, false), record.id);
          copy.splice(copy.indexOf(record), 1, replaced);
          done.puts.push(replaced);
        }
        for (const post of (input.posts as unknown[] | undefined) ?? []) {
          const record = complete(b, validateRecord(asObject(post), false));
          copy.push(record);
          done.posts.push(record);
        }
        list.splice(0, list.length, ...copy);
        return envelope(done);
      }
      if (d !== undefined && e === undefined) {
        const index = list.findIndex((r) => r.id === d);
        if (index < 0) throw new Refusal(404, 81044, "Record does not exist.");
        const current = list[index] as FakeRecord;
        if (method === "GET") return envelope(current);
        if (method === "DELETE") {
          list.splice(index, 1);
          return envelope({ id: d });
        }
        if (method === "PATCH" || method === "PUT") {
          const fields = validateRecord(asObject(body), method === "PATCH");
          const base = method === "PATCH" ? current : {};
          const updated = complete(b, { ...base, ...fields }, d);
          list.splice(index, 1, updated);
          return envelope(updated);
        }
      }
    }
    if (a === "accounts" && b !== undefined && c === "cfd_tunnel") {
      if (b !== accountId) throw new Refusal(403, 10000, "Authentication error");
      if (d === undefined && method === "GET") {
        const name = query.get("name");
        const deleted = query.get("is_deleted");
        const found = tunnels.filter(
          (t) =>
            (name === null || t.name === name) &&
            (deleted === null || (deleted === "true") === (t.deleted_at !== null)),
        );
        // The tunnel list documents result_info without total_pages.
        return page(
          found.map((t) => ({
            id: t.id,
            name: t.name,
            deleted_at: t.deleted_at,
            status: "inactive",
            tun_type: "cfd_tunnel",
          })),
          query,
          false,
        );
      }
      if (d === undefined && method === "POST") {
        const input = asObject(body);
        if (typeof input.name !== "string" || input.name === "")
          throw new Refusal(400, 1003, "name is required");
        if (input.config_src !== "cloudflare")
          throw new Refusal(400, 1003, "holt's tunnels are remotely managed");
        const tunnel: FakeTunnel = {
          id: randomUUID(),
          name: input.name,
          deleted_at: null,
          config: null,
          token: `eyJ${randomBytes(48).toString("base64url")}`,
        };
        tunnels.push(tunnel);
        // The documented create answer carries the token and the tunnel secret too.
        return envelope({
          id: tunnel.id,
          name: tunnel.name,
          account_tag: accountId,
          config_src: "cloudflare",
          remote_config: true,
          status: "inactive",
          credentials_file: {
            AccountTag: accountId,
            TunnelID: tunnel.id,
            TunnelName: tunnel.name,
            TunnelSecret: randomBytes(32).toString("base64"),
          },
          token: tunnel.token,
        });
      }
      const tunnel = tunnels.find((t) => t.id === d);
      if (tunnel === undefined) throw new Refusal(404, 1003, "Tunnel not found");
      if (e === "configurations" && method === "GET") {
        return envelope({
          tunnel_id: tunnel.id,
          account_id: accountId,
          version: 0,
          config: tunnel.config,
          source: "cloudflare",
        });
      }
      if (e === "configurations" && method === "PUT") {
        const config = asObject(asObject(body).config);
        const ingress = config.ingress;
        if (!Array.isArray(ingress) || ingress.length === 0)
          throw new Refusal(400, 1055, "At least one ingress rule is required");
        const last = asObject(ingress[ingress.length - 1]);
        if (last.hostname !== undefined)
          throw new Refusal(400, 1056, "The last ingress rule must match all URLs (no hostname)");
        for (const rule of ingress) {
          if (typeof asObject(rule).service !== "string")
            throw new Refusal(400, 1057, "Every ingress rule needs a service");
        }
        tunnel.config = config;
        return envelope({
          tunnel_id: tunnel.id,
          account_id: accountId,
          version: 1,
          config,
          source: "cloudflare",
        });
      }
      if (e === "token" && method === "GET") return envelope(tunnel.token);
    }
    throw new Refusal(404, 7003, "Could not route to the requested path");
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.replace(/^\/client\/v4/, "");
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    const logged: LoggedRequest = {
      method: req.method ?? "GET",
      path,
      query: url.searchParams,
      body,
    };
    log.push(logged);

    const send = (status: number, payload: string, headers = {}): void => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(payload);
    };

    const override = overrides.find((o) => o.match(logged));
    if (override !== undefined) {
      overrides.splice(overrides.indexOf(override), 1);
      if (override.delayMs !== undefined) await new Promise((r) => setTimeout(r, override.delayMs));
      if (res.destroyed) return;
      send(
        override.status ?? 200,
        override.body ?? JSON.stringify(override.json),
        override.headers,
      );
      return;
    }

    if (req.headers.authorization !== `Bearer ${token}`) {
      send(403, JSON.stringify(failure(9109, "Invalid access token")));
      return;
    }
    try {
      const parts = path
        .split("/")
        .filter((p) => p !== "")
        .map(decodeURIComponent);
      send(200, JSON.stringify(route(logged.method, parts, url.searchParams, body)));
    } catch (error) {
      if (error instanceof Refusal)
        send(error.status, JSON.stringify(failure(error.code, error.message)));
      else send(500, JSON.stringify(failure(1000, String(error))));
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/client/v4`,
    token,
    accountId,
    zones,
    records,
    tunnels,
    log,
    overrides,
    get maxPerPage() {
      return state.maxPerPage;
    },
    set maxPerPage(value: number) {
      state.maxPerPage = value;
    },
    addRecord(zoneId, record) {
      const full: FakeRecord = { ...record, id: newId(), tags: record.tags ?? [] };
      zoneRecords(zoneId).push(full);
      return full;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
