/**
 * A local stand-in for Cloudflare's API v4, for the contract tests of
 * cloudflare-api.ts, cloudflare.ts and cloudflare-tunnel.ts. It is not the
 * live API and cannot prove that the live API behaves the same; it is as
 * strict as what Cloudflare publishes:
 *
 * - Every request is checked against Cloudflare's published OpenAPI schema
 *   (cloudflare-schema-check.test.ts; the fixture it reads says where each
 *   part came from) and refused with 400 when it does not match; every answer
 *   the stand-in gives is checked too. Both kinds of mismatch are kept in
 *   `violations`, which the tests expect to stay empty.
 * - The record rules of cloudflare-contract-rules.test.ts: content per type,
 *   a CNAME alone among A/AAAA/CNAME (81053/81054), identical records
 *   (81058), TXT sizes, TTLs, what can be proxied, 200 changes per batch.
 * - Pagination with result_info, the batch endpoint's order (deletes,
 *   patches, puts, posts) and its all-or-nothing transaction, tunnels with
 *   their configurations and tokens.
 * - A rate limit when asked (`rateLimit`): past it, HTTP 429 with
 *   `retry-after`, the seconds until the window resets (docs "Rate limits").
 *
 * Where the documents give no error code, the rules file says which it
 * picked.
 *
 * This file holds no tests; the cloudflare*.test.ts files import it.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  contentProblem,
  FREE_PLAN_BATCH_LIMIT,
  neighbourProblem,
  type Refused,
  ttlAllowed,
} from "./cloudflare-contract-rules.test.ts";
import { cloudflareSchema } from "./cloudflare-schema-check.test.ts";

export interface FakeRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied: boolean;
  comment: string | null;
  tags: string[];
  created_on: string;
  modified_on: string;
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
  /** Requests that did not match the published schema, and answers that did not: keep it empty. */
  readonly violations: string[];
  /** At most `requests` per `windowMs`; past it, 429 with retry-after. null: no limit. */
  rateLimit: { readonly requests: number; readonly windowMs: number } | null;
  /** Record changes one batch may hold (the Free plan's limit by default). */
  batchLimit: number;
  addRecord(
    zoneId: string,
    record: Omit<FakeRecord, "id" | "tags" | "created_on" | "modified_on"> & { tags?: string[] },
  ): FakeRecord;
  close(): Promise<void>;
}

/**
 * Where the real API, or holt following Cloudflare's guides, parts from the
 * letter of the schema, each with its reason. A mismatch that matches one of
 * these is not refused and not a violation; the schema test checks each is
 * still needed.
 */
export const KNOWN_DEVIATIONS: readonly {
  readonly kind: "request" | "answer";
  readonly pattern: RegExp;
  readonly why: string;
}[] = [
  {
    kind: "request",
    pattern: /^PUT \S+\/configurations body\.config\.ingress\[\d+\]\.hostname is required$/,
    why: "The schema requires a hostname in every ingress rule, but cloudflared needs a last rule without one (the catch-all), and Cloudflare's guide to remotely managed tunnels sends it so.",
  },
  {
    kind: "answer",
    pattern: /→ 429 body\.errors\[\d+\]\.code is 971, below the minimum 1000$/,
    why: "The schema's error codes start at 1000, but the real rate-limit answer carries code 971 (quoted in cloudflare/terraform-provider-cloudflare#5505).",
  },
];

const deviates = (kind: "request" | "answer", problem: string): boolean =>
  KNOWN_DEVIATIONS.some((d) => d.kind === kind && d.pattern.test(problem));

function newId(): string {
  return randomBytes(16).toString("hex");
}

function envelope(result: unknown, resultInfo?: unknown): unknown {
  return resultInfo === undefined
    ? { success: true, errors: [], messages: [], result }
    : { success: true, errors: [], messages: [], result, result_info: resultInfo };
}

function failure(code: number, message: string, chain?: readonly Refused[]): unknown {
  const error = chain === undefined ? { code, message } : { code, message, error_chain: chain };
  return { success: false, errors: [error], messages: [], result: null };
}

class Refusal extends Error {
  readonly status: number;
  readonly code: number;
  readonly chain: readonly Refused[] | undefined;

  constructor(status: number, code: number, message: string, chain?: readonly Refused[]) {
    super(message);
    this.status = status;
    this.code = code;
    this.chain = chain;
  }
}

/** A DNS validation failure as Cloudflare nests it: 1004 with the reason in error_chain. */
function dnsInvalid(reason: Refused): Refusal {
  return new Refusal(400, 1004, "DNS Validation Error", [reason]);
}

/** A record as the API answers it (comment left out when there is none, as its schema has no null). */
function recordJson(record: FakeRecord): Record<string, unknown> {
  const proxiable = record.type === "A" || record.type === "AAAA" || record.type === "CNAME";
  return {
    id: record.id,
    name: record.name,
    type: record.type,
    content: record.content,
    proxiable,
    proxied: record.proxied,
    ttl: record.ttl,
    ...(record.comment === null ? {} : { comment: record.comment }),
    tags: record.tags,
    meta: {},
    created_on: record.created_on,
    modified_on: record.modified_on,
  };
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
  const violations: string[] = [];
  const schema = cloudflareSchema();
  const created = new Date().toISOString();

  const state = {
    maxPerPage: 100,
    batchLimit: FREE_PLAN_BATCH_LIMIT,
    rateLimit: null as ContractServer["rateLimit"],
    window: { start: 0, count: 0 },
  };

  function zoneJson(zone: FakeZone): Record<string, unknown> {
    return {
      id: zone.id,
      name: zone.name,
      name_servers: zone.name_servers,
      account: { id: accountId, name: "holt tests" },
      owner: { id: accountId, name: "holt tests", type: "user" },
      meta: { dns_only: false, phishing_detected: false },
      development_mode: 0,
      original_name_servers: null,
      original_registrar: null,
      original_dnshost: null,
      created_on: created,
      modified_on: created,
      activated_on: created,
    };
  }

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
      if (!ttlAllowed(input.ttl)) {
        throw dnsInvalid({
          code: 9021,
          message: "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
        });
      }
      out.ttl = input.ttl as number;
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

  /**
   * The record `fields` describe, checked on its own and beside `others`
   * (the zone as it is at that point of the change, without this record).
   */
  function complete(
    zoneId: string,
    fields: Partial<FakeRecord>,
    others: readonly FakeRecord[],
    id?: string,
  ): FakeRecord {
    const now = new Date().toISOString();
    const record: FakeRecord = {
      id: id ?? newId(),
      name: fields.name ?? "",
      type: fields.type ?? "",
      content: fields.content ?? "",
      ttl: fields.ttl ?? 1,
      proxied: fields.proxied ?? false,
      comment: fields.comment ?? null,
      tags: [],
      created_on: fields.created_on ?? now,
      modified_on: now,
    };
    if (record.proxied) {
      if (record.type !== "A" && record.type !== "AAAA" && record.type !== "CNAME") {
        throw dnsInvalid({ code: 9041, message: "Invalid proxied mode. Record cannot be proxied" });
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
    const content = contentProblem(record.type, record.name, record.content);
    if (content !== null) throw dnsInvalid(content);
    const beside = neighbourProblem(record, others);
    if (beside !== null) throw new Refusal(400, beside.code, beside.message);
    return record;
  }

  /** `list` without the record `id`. */
  const without = (list: readonly FakeRecord[], id: string) => list.filter((r) => r.id !== id);

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
      return page(found.map(zoneJson), query, true);
    }
    if (a === "zones" && b !== undefined && c === undefined && method === "GET") {
      const zone = zones.find((z) => z.id === b);
      if (zone === undefined) throw new Refusal(404, 1001, "Invalid zone identifier");
      return envelope(zoneJson(zone));
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
        return page(found.map(recordJson), query, true);
      }
      if (d === undefined && method === "POST") {
        const record = complete(b, validateRecord(asObject(body), false), list);
        list.push(record);
        return envelope(recordJson(record));
      }
      if (d === "batch" && method === "POST") {
        const input = asObject(body);
        const changes = (["deletes", "patches", "puts", "posts"] as const).reduce(
          (sum, key) => sum + ((input[key] as unknown[] | undefined)?.length ?? 0),
          0,
        );
        if (changes > state.batchLimit) {
          throw dnsInvalid({
            code: 9102,
            message: `A batch holds at most ${state.batchLimit} record changes on this plan; this one has ${changes}.`,
          });
        }
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
          const merged = complete(
            b,
            { ...record, ...validateRecord(fields, true) },
            without(copy, record.id),
            record.id,
          );
          copy.splice(copy.indexOf(record), 1, merged);
          done.patches.push(merged);
        }
        for (const put of (input.puts as unknown[] | undefined) ?? []) {
          const fields = asObject(put);
          const record = byId(fields.id);
          const replaced = complete(
            b,
            { ...validateRecord(fields, false), created_on: record.created_on },
            without(copy, record.id),
            record.id,
          );
          copy.splice(copy.indexOf(record), 1, replaced);
          done.puts.push(replaced);
        }
        for (const post of (input.posts as unknown[] | undefined) ?? []) {
          const record = complete(b, validateRecord(asObject(post), false), copy);
          copy.push(record);
          done.posts.push(record);
        }
        list.splice(0, list.length, ...copy);
        return envelope({
          deletes: done.deletes.map(recordJson),
          patches: done.patches.map(recordJson),
          puts: done.puts.map(recordJson),
          posts: done.posts.map(recordJson),
        });
      }
      if (d !== undefined && e === undefined) {
        const index = list.findIndex((r) => r.id === d);
        if (index < 0) throw new Refusal(404, 81044, "Record does not exist.");
        const current = list[index] as FakeRecord;
        if (method === "GET") return envelope(recordJson(current));
        if (method === "DELETE") {
          list.splice(index, 1);
          return envelope({ id: d });
        }
        if (method === "PATCH" || method === "PUT") {
          const fields = validateRecord(asObject(body), method === "PATCH");
          const base = method === "PATCH" ? current : { created_on: current.created_on };
          const updated = complete(b, { ...base, ...fields }, without(list, d), d);
          list.splice(index, 1, updated);
          return envelope(recordJson(updated));
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
        // The schema has no null for deleted_at: a live tunnel's answer leaves it out.
        return page(
          found.map((t) => ({
            id: t.id,
            name: t.name,
            ...(t.deleted_at === null ? {} : { deleted_at: t.deleted_at }),
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

    const raw = (status: number, payload: string, headers = {}): void => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(payload);
    };
    /** An answer of the stand-in's own, checked against the schema before it goes out. */
    const send = (status: number, payload: unknown, headers = {}): void => {
      for (const problem of schema.checkResponse(logged.method, path, status, payload)) {
        if (!deviates("answer", problem)) violations.push(`answer: ${problem}`);
      }
      raw(status, JSON.stringify(payload), headers);
    };

    const override = overrides.find((o) => o.match(logged));
    if (override !== undefined) {
      overrides.splice(overrides.indexOf(override), 1);
      if (override.delayMs !== undefined) await new Promise((r) => setTimeout(r, override.delayMs));
      if (res.destroyed) return;
      raw(override.status ?? 200, override.body ?? JSON.stringify(override.json), override.headers);
      return;
    }

    if (req.headers.authorization !== `Bearer ${token}`) {
      send(403, failure(9109, "Invalid access token"));
      return;
    }
    const limit = state.rateLimit;
    if (limit !== null) {
      const now = Date.now();
      if (now - state.window.start >= limit.windowMs) state.window = { start: now, count: 0 };
      state.window.count++;
      if (state.window.count > limit.requests) {
        const wait = Math.ceil((state.window.start + limit.windowMs - now) / 1000);
        send(429, failure(971, "Please wait and consider throttling your request speed"), {
          "retry-after": String(Math.max(1, wait)),
        });
        return;
      }
    }
    const mismatches = schema
      .checkRequest(logged.method, path, url.searchParams, body)
      .filter((problem) => !deviates("request", problem));
    const parts = path
      .split("/")
      .filter((p) => p !== "")
      .map(decodeURIComponent);
    // A request that fails the schema is refused and changes nothing. Where a
    // record rule refuses it too, that rule's answer goes out: the real API
    // answers an A record holding an IPv6 address with 9005, not a schema error.
    const before = mismatches.length === 0 ? null : snapshot();
    violations.push(...mismatches.map((problem) => `request: ${problem}`));
    try {
      const result = route(logged.method, parts, url.searchParams, body);
      if (before !== null) {
        restore(before);
        // The real API's code for a request that fails its schema is not published.
        send(
          400,
          failure(
            1004,
            "Invalid request",
            mismatches.map((message) => ({ code: 1004, message })),
          ),
        );
        return;
      }
      send(200, result);
    } catch (error) {
      if (before !== null) restore(before);
      if (error instanceof Refusal)
        send(error.status, failure(error.code, error.message, error.chain));
      else send(500, failure(1000, String(error)));
    }
  }

  /** Records and tunnels as they are, to put back after a refused request. */
  function snapshot(): string {
    return JSON.stringify({ records: [...records], tunnels });
  }

  function restore(text: string): void {
    const saved = JSON.parse(text) as { records: [string, FakeRecord[]][]; tunnels: FakeTunnel[] };
    for (const [zoneId, list] of saved.records) records.get(zoneId)?.splice(0, Infinity, ...list);
    // Tunnels in place: tests hold on to them.
    tunnels.splice(saved.tunnels.length);
    saved.tunnels.forEach((t, i) => {
      const live = tunnels[i];
      if (live === undefined) return;
      live.config = t.config;
      live.deleted_at = t.deleted_at;
    });
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
    violations,
    get maxPerPage() {
      return state.maxPerPage;
    },
    set maxPerPage(value: number) {
      state.maxPerPage = value;
    },
    get rateLimit() {
      return state.rateLimit;
    },
    set rateLimit(value) {
      state.rateLimit = value;
      state.window = { start: 0, count: 0 };
    },
    get batchLimit() {
      return state.batchLimit;
    },
    set batchLimit(value: number) {
      state.batchLimit = value;
    },
    // As made by hand in the dashboard: no rule is checked.
    addRecord(zoneId, record) {
      const now = new Date().toISOString();
      const full: FakeRecord = {
        ...record,
        id: newId(),
        tags: record.tags ?? [],
        created_on: now,
        modified_on: now,
      };
      zoneRecords(zoneId).push(full);
      return full;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
