/**
 * A small client for Cloudflare's API v4, shared by the DNS backend
 * (cloudflare.ts) and the tunnel client (cloudflare-tunnel.ts): bearer token,
 * the JSON envelope, pagination, a timeout per request, and every failure
 * turned into a HOLT_E_DNS error that says what Cloudflare said and what to do.
 *
 * Written against Cloudflare's documented shapes; it has never talked to the
 * live API from this repository (the tests run against a local contract server
 * that follows the same documents). What it relies on:
 *
 * - Auth: `Authorization: Bearer <token>` (developers.cloudflare.com/api,
 *   "Security: API Token").
 * - Every answer is the envelope `{ success, errors: [{ code, message }],
 *   messages, result, result_info? }`; lists add `result_info: { page,
 *   per_page, count, total_count, total_pages? }` (Cloudflare's API reference
 *   and the official cloudflare-typescript SDK, V4PagePaginationArray). The
 *   tunnel list documents `result_info` without `total_pages`, so pagination
 *   falls back to `total_count`, then to "a short page is the last".
 * - A refused token: HTTP 401/403, or error code 9109 ("Invalid access
 *   token") or 10000 ("Authentication error"). Those codes are not in a
 *   Cloudflare error table; they come from issue threads (cert-manager#4465,
 *   favonia/cloudflare-ddns#897, lablabs/cloudflare-exporter#120). A token
 *   Cloudflare cannot even parse gets HTTP 400, code 6003 ("Invalid request
 *   headers") with an `error_chain` entry 6111 ("Invalid format for
 *   Authorization header") (jeessy2/ddns-go#916, libdns/cloudflare#12).
 * - Rate limits: 1200 requests per five minutes per user; past it, HTTP 429
 *   with `retry-after`, the seconds until there is capacity again (docs
 *   "Rate limits"). The request was not carried out, so holt sends it again
 *   after that wait, at most MAX_ATTEMPTS times, and never waits longer than
 *   `maxRetryWaitMs` at once: a long block (up to five minutes) fails with
 *   the time to wait, instead of holding the apply.
 * - Redirects are not followed (`redirect: "error"`): the API never
 *   redirects, and a redirect would carry the token to another address.
 *
 * The token never appears in a message: messages are built from Cloudflare's
 * error codes and texts, and anything quoted from an answer is redacted first.
 */
import { HoltError } from "../errors.ts";
import { isRefusedRedirect, NO_REDIRECTS } from "./http.ts";

export const CLOUDFLARE_API_BASE = "https://api.cloudflare.com/client/v4";
export const DEFAULT_CLOUDFLARE_TIMEOUT_MS = 5000;
/** Cloudflare's own default page size for DNS records; most lists accept it. */
export const DEFAULT_PER_PAGE = 100;

/**
 * Error codes that mean "this token is not accepted" rather than "this request
 * is wrong": 6003 is about the request's headers, of which holt sends only
 * Authorization as Cloudflare checks them; 6111 names that header.
 */
const TOKEN_REFUSED_CODES: ReadonlySet<number> = new Set([9109, 10000, 6003, 6111]);
/**
 * Error codes that mean "another record at that name stands in the way":
 * 81053 (a CNAME where an A, AAAA or CNAME is), 81054 (an A or AAAA where a
 * CNAME is), 81057 and 81058 (the record exists already). Issue threads
 * quote them: terraform-provider-cloudflare#1247, favonia/cloudflare-ddns#990,
 * certbot/certbot#10725.
 */
const CONFLICT_CODES: ReadonlySet<number> = new Set([81053, 81054, 81057, 81058]);
/** Tries of one request that Cloudflare answers with 429. */
const MAX_ATTEMPTS = 3;
export const DEFAULT_MAX_RETRY_WAIT_MS = 30_000;
/** The wait before another try when a 429 names none: 1 s, then 2 s. */
const BACKOFF_MS = 1000;
/** A list that needs more pages than this is a broken pagination, not a big zone. */
const MAX_PAGES = 1000;
const EXCERPT_CHARS = 120;

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface CloudflareApiOptions {
  /** @default CLOUDFLARE_API_BASE */
  readonly apiBase?: string;
  readonly apiToken: string;
  /** Per request. @default DEFAULT_CLOUDFLARE_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /** What the requests are for, as messages name it: `zone "lab.example.com"`, `account "0123…"`. */
  readonly scope: string;
  /** The fix when Cloudflare refuses the token, a sentence: `Check dns.zones["…"].apiToken …`. */
  readonly tokenFix: string;
  /** The longest `retry-after` holt waits out. @default DEFAULT_MAX_RETRY_WAIT_MS */
  readonly maxRetryWaitMs?: number;
  /** @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface CallOptions {
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** The result is itself a secret (a tunnel's run token): never quote the answer in an error. */
  readonly secretResult?: boolean;
}

export interface CloudflareApi {
  /** One request. Resolves to the envelope's `result`, unchecked: the caller checks its shape. */
  call(method: HttpMethod, path: string, options?: CallOptions): Promise<unknown>;
  /** Every item of a paginated list, reading `result_info` until the last page. */
  list(path: string, query?: Query, perPage?: number): Promise<unknown[]>;
  /** The error for a result whose shape is not the documented one. */
  odd(method: HttpMethod, path: string, what: string): HoltError;
}

interface Envelope {
  readonly result: unknown;
  readonly resultInfo: unknown;
}

interface CloudflareMessage {
  readonly code: number | null;
  readonly message: string;
  /** What led to it, as Cloudflare nests it (`error_chain`). */
  readonly chain: readonly CloudflareMessage[];
}

export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function messagesOf(value: unknown, depth = 0): CloudflareMessage[] {
  if (!Array.isArray(value) || depth > 3) return [];
  return value.filter(isRecord).map((entry) => ({
    code: typeof entry.code === "number" ? entry.code : null,
    message: typeof entry.message === "string" ? entry.message : "",
    chain: messagesOf(entry.error_chain, depth + 1),
  }));
}

function describeMessages(messages: readonly CloudflareMessage[]): string {
  return messages
    .map((m) => {
      const text = (m.code === null ? m.message : `[${m.code}] ${m.message}`).trim();
      return m.chain.length === 0 ? text : `${text} (${describeMessages(m.chain)})`;
    })
    .join("; ");
}

function allCodes(messages: readonly CloudflareMessage[]): number[] {
  return messages.flatMap((m) => [...(m.code === null ? [] : [m.code]), ...allCodes(m.chain)]);
}

/**
 * The wait a `retry-after` value asks for, in ms: delay-seconds or an HTTP
 * date (RFC 9110 §10.2.3); null when absent or unreadable.
 */
export function retryAfterMs(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat === "") return "an empty body";
  return `it starts "${flat.length > EXCERPT_CHARS ? `${flat.slice(0, EXCERPT_CHARS)}…` : flat}"`;
}

/** "5 minutes", "45 seconds": how long to wait, rounded up. */
function waitText(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 120) return `${seconds} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

function queryString(query: Query | undefined): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

export function createCloudflareApi(options: CloudflareApiOptions): CloudflareApi {
  const apiBase = (options.apiBase ?? CLOUDFLARE_API_BASE).replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? DEFAULT_CLOUDFLARE_TIMEOUT_MS;
  const maxRetryWaitMs = options.maxRetryWaitMs ?? DEFAULT_MAX_RETRY_WAIT_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const { apiToken, scope } = options;

  /** Every message passes through here, so a token echoed by anyone never reaches the user. */
  const fail = (
    message: string,
    cause?: unknown,
    code: "HOLT_E_DNS" | "HOLT_E_DNS_CONFLICT" = "HOLT_E_DNS",
  ): HoltError => {
    const safe = apiToken.length > 0 ? message.replaceAll(apiToken, "[redacted]") : message;
    return new HoltError(code, safe, cause === undefined ? {} : { cause });
  };

  const odd = (method: HttpMethod, path: string, what: string): HoltError =>
    fail(
      `Cloudflare's API answered ${method} ${path} for ${scope} with ${what}, which is not the documented shape. Check that the API base URL is Cloudflare's API v4 (${CLOUDFLARE_API_BASE}), or try again later.`,
    );

  /** One request, sent again while Cloudflare answers 429 and asks for a wait holt accepts. */
  async function send(method: HttpMethod, path: string, call: CallOptions): Promise<Envelope> {
    if (/[\s\p{Cc}]/u.test(apiToken)) {
      throw fail(
        `The API token for ${scope} holds a space or line break (pasted with the "Bearer " prefix, or with a newline?), so Cloudflare would refuse it. ${options.tokenFix}`,
      );
    }
    for (let attempt = 1; ; attempt++) {
      const answer = await sendOnce(method, path, call);
      if (answer.kind === "envelope") return answer.envelope;
      const asked = retryAfterMs(answer.retryAfter, Date.now());
      const why = `Cloudflare's API rate limit was reached for ${scope} (${answer.where})`;
      if (asked !== null && asked > maxRetryWaitMs) {
        throw fail(
          `${why}. It asks to wait ${Math.ceil(asked / 1000)} s, longer than the ${Math.round(maxRetryWaitMs / 1000)} s holt waits. Run holt again in ${waitText(asked)}; other tools using the same Cloudflare account count against the same limit.`,
        );
      }
      if (attempt >= MAX_ATTEMPTS) {
        throw fail(
          `${why}, still rate limited after ${MAX_ATTEMPTS} attempts. Wait a few minutes and run holt again.`,
        );
      }
      await sleep(asked ?? BACKOFF_MS * 2 ** (attempt - 1));
    }
  }

  async function sendOnce(
    method: HttpMethod,
    path: string,
    call: CallOptions,
  ): Promise<
    | { kind: "envelope"; envelope: Envelope }
    | { kind: "rate-limited"; retryAfter: string | null; where: string }
  > {
    const url = `${apiBase}${path}${queryString(call.query)}`;
    const headers: Record<string, string> = {
      authorization: `Bearer ${apiToken}`,
      accept: "application/json",
    };
    const init: RequestInit = {
      method,
      headers,
      signal: AbortSignal.timeout(timeoutMs),
      ...NO_REDIRECTS,
    };
    if (call.body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(call.body);
    }

    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(url, init);
      status = response.status;
      retryAfter = response.headers.get("retry-after");
      text = await response.text();
    } catch (error) {
      const name = error instanceof Error ? error.name : "";
      if (name === "TimeoutError" || name === "AbortError") {
        throw fail(
          `Cloudflare's API at ${apiBase} did not answer ${method} ${path} for ${scope} within ${timeoutMs} ms. Check this machine's internet connection, or try again later.`,
          error,
        );
      }
      if (isRefusedRedirect(error)) {
        throw fail(
          `Cloudflare's API at ${apiBase} answered ${method} ${path} for ${scope} with a redirect, which holt does not follow: it would carry the API token to another address. Check that the API base URL is Cloudflare's API v4 (${CLOUDFLARE_API_BASE}).`,
          error,
        );
      }
      const reason =
        error instanceof Error && error.cause instanceof Error
          ? error.cause.message
          : String(error);
      throw fail(
        `Cloudflare's API at ${apiBase} could not be reached for ${method} ${path} (${scope}): ${reason}. Check this machine's internet connection and DNS, and that the API base URL is right.`,
        error,
      );
    }

    let parsed: unknown;
    let isJson = true;
    try {
      parsed = JSON.parse(text);
    } catch {
      isJson = false;
    }
    const envelope = isJson && isRecord(parsed) ? parsed : null;
    const errors = messagesOf(envelope?.errors);
    const said = describeMessages(errors);
    const where = `${method} ${path}: HTTP ${status}${said === "" ? "" : `, ${said}`}`;

    if (
      status === 401 ||
      status === 403 ||
      allCodes(errors).some((c) => TOKEN_REFUSED_CODES.has(c))
    ) {
      throw fail(`Cloudflare refused the API token for ${scope} (${where}). ${options.tokenFix}`);
    }
    if (status === 429) return { kind: "rate-limited", retryAfter, where };
    if (envelope === null) {
      const body = call.secretResult === true ? "a body holt does not show" : excerpt(text);
      throw fail(
        `Cloudflare's API answered ${method} ${path} for ${scope} with HTTP ${status} and a body that is not a JSON envelope (${body}). Check that the API base URL is Cloudflare's API v4 (${CLOUDFLARE_API_BASE}), or try again later.`,
      );
    }
    if (allCodes(errors).some((c) => CONFLICT_CODES.has(c))) {
      throw fail(
        `Cloudflare refused ${method} ${path} for ${scope} (HTTP ${status}: ${said}): another record at that name stands in the way (a CNAME cannot share its name with an A, AAAA or CNAME record, and a record cannot be there twice). Nothing was changed. Remove the other record, or choose another hostname.`,
        undefined,
        "HOLT_E_DNS_CONFLICT",
      );
    }
    if (status < 200 || status > 299 || envelope.success !== true) {
      const detail =
        said === ""
          ? `HTTP ${status}, success: ${String(envelope.success)}, and no error listed`
          : `HTTP ${status}: ${said}`;
      throw fail(`Cloudflare refused ${method} ${path} for ${scope} (${detail}).`);
    }
    if (!("result" in envelope)) {
      throw odd(method, path, "success but no result");
    }
    return {
      kind: "envelope",
      envelope: { result: envelope.result, resultInfo: envelope.result_info },
    };
  }

  return {
    odd,

    async call(method, path, call = {}) {
      return (await send(method, path, call)).result;
    },

    async list(path, query = {}, perPage = DEFAULT_PER_PAGE) {
      const items: unknown[] = [];
      for (let page = 1; ; page++) {
        const { result, resultInfo } = await send("GET", path, {
          query: { ...query, page, per_page: perPage },
        });
        if (!Array.isArray(result)) throw odd("GET", path, "a result that is not a list");
        items.push(...result);
        if (!isRecord(resultInfo)) return items;
        if (typeof resultInfo.page === "number" && resultInfo.page !== page) {
          throw odd("GET", path, `page ${resultInfo.page} when page ${page} was asked for`);
        }
        let more: boolean;
        if (typeof resultInfo.total_pages === "number") more = page < resultInfo.total_pages;
        else if (typeof resultInfo.total_count === "number") {
          more = items.length < resultInfo.total_count;
        } else {
          const size = typeof resultInfo.per_page === "number" ? resultInfo.per_page : perPage;
          more = result.length >= size;
        }
        if (!more || result.length === 0) return items;
        if (page >= MAX_PAGES) throw odd("GET", path, `more than ${MAX_PAGES} pages`);
      }
    },
  };
}
