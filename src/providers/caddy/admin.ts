/**
 * Caddy's admin API through the host's `Exec.http`, so the same code works on
 * this machine and over SSH. Every change is a read-modify-write of the whole
 * config, guarded by the ETag from the read (`If-Match`): a concurrent change
 * by anyone else makes Caddy answer 412, and holt reads again and redoes its
 * edit on the new config instead of overwriting it.
 */
import { HoltError, isHoltError } from "../../errors.ts";
import type { Exec, HttpResponse } from "../../hosts/exec.ts";
import type { ProxyEndpoint } from "../../model/route.ts";
import { caddy26Etag, isObject, type Json, joinHostPort, splitHostPort } from "./caddy-json.ts";
import { sameConfig } from "./routes.ts";

export const CADDY_DOCS = "docs/services.md#caddy-on-a-host";

/** Where holt looks for Caddy on a host that has no route in the config. */
export const DEFAULT_ADMIN: AdminEndpoint = { address: "127.0.0.1", port: 2019 };

/** Caddy's admin API on the host: a TCP address on its loopback, or a Unix socket. */
export type AdminEndpoint =
  | { readonly address: string; readonly port: number; readonly socketPath?: undefined }
  | { readonly socketPath: string; readonly address?: undefined; readonly port?: undefined };

const UNIX_PREFIX = "unix/";

export function adminEndpoint(proxy: ProxyEndpoint): AdminEndpoint {
  if (proxy.adminPort === null) {
    return { socketPath: proxy.adminAddress.slice(UNIX_PREFIX.length) };
  }
  const address = splitHostPort(proxy.adminAddress)?.address ?? proxy.adminAddress;
  return { address: address === "" ? "127.0.0.1" : address, port: proxy.adminPort };
}

/** In Caddy's syntax: "127.0.0.1:2019", "[::1]:2019", "unix//run/caddy/admin.sock". */
export function describeEndpoint(endpoint: AdminEndpoint): string {
  return endpoint.socketPath !== undefined
    ? `${UNIX_PREFIX}${endpoint.socketPath}`
    : joinHostPort(endpoint.address, endpoint.port);
}

/** The endpoint `describeEndpoint` wrote (kept in `Observed.info`); undefined for other text. */
export function parseEndpoint(text: string): AdminEndpoint | undefined {
  if (text.startsWith(`${UNIX_PREFIX}/`)) return { socketPath: text.slice(UNIX_PREFIX.length) };
  return splitHostPort(text);
}

function caddyOn(host: string, endpoint: AdminEndpoint): string {
  return `Caddy on host "${host}" (admin API ${describeEndpoint(endpoint)})`;
}

/** Caddy's answer when it read a certificate metadata file half written (certmagic before Caddy 2.9). */
function storageRace(response: HttpResponse): boolean {
  return response.status === 500 && /decoding certificate metadata/.test(response.body);
}

/** Caddy's own error text from an error answer, kept short. */
function caddyError(response: HttpResponse): string {
  let text = response.body.trim();
  try {
    const parsed: unknown = JSON.parse(text);
    const error = (parsed as { error?: unknown } | null)?.error;
    if (typeof error === "string") text = error;
  } catch {
    // not JSON: show the start of the body
  }
  text = text.replace(/\s+/g, " ");
  return text.length > 300 ? `${text.slice(0, 300)}…` : text === "" ? "(empty answer)" : text;
}

export interface ConfigSnapshot {
  /** The whole config; null when Caddy runs with none. */
  readonly config: Json;
  /** The exact body, which the ETag hashes. */
  readonly body: string;
  /** The value to send back in `If-Match`. */
  readonly etag: string;
  /** True when Caddy sent the ETag; false when holt computed it (Caddy 2.6 sends it as a trailer). */
  readonly etagFromCaddy: boolean;
}

/** Reads of one Caddy that are under way, per Exec, so parallel readers share one GET. */
const reading = new WeakMap<Exec, Map<string, Promise<ConfigSnapshot>>>();

/**
 * One `GET /config/`. Any failure is HOLT_E_CADDY, naming the host, the
 * address and the fix. Readers that ask while a GET of the same Caddy is
 * under way (the route and certificate providers read together) share it;
 * nothing is kept once it answers, and writes are guarded by its ETag anyway.
 */
export function readCaddyConfig(
  exec: Exec,
  host: string,
  endpoint: AdminEndpoint,
): Promise<ConfigSnapshot> {
  const key = `${host}\0${describeEndpoint(endpoint)}`;
  let forExec = reading.get(exec);
  if (forExec === undefined) {
    forExec = new Map();
    reading.set(exec, forExec);
  }
  const running = forExec.get(key);
  if (running !== undefined) return running;
  const read = fetchCaddyConfig(exec, host, endpoint).finally(() => forExec?.delete(key));
  forExec.set(key, read);
  return read;
}

async function fetchCaddyConfig(
  exec: Exec,
  host: string,
  endpoint: AdminEndpoint,
): Promise<ConfigSnapshot> {
  let response: HttpResponse;
  try {
    response = await exec.http({ ...endpoint, method: "GET", path: "/config/" });
  } catch (error) {
    if (!isHoltError(error) || error.code !== "HOLT_E_HTTP") throw error;
    throw new HoltError(
      "HOLT_E_CADDY",
      `${caddyOn(host, endpoint)} does not answer. Start Caddy there with its admin API on ${describeEndpoint(endpoint)} and --resume (Debian: systemctl enable --now caddy-api), or correct the admin address in the lab's config. See ${CADDY_DOCS}.`,
      { details: [error.message], cause: error },
    );
  }
  if (response.status !== 200) {
    throw new HoltError(
      "HOLT_E_CADDY",
      `${caddyOn(host, endpoint)} answered GET /config/ with HTTP ${response.status}: ${caddyError(response)}. Check that this port is Caddy's admin API. See ${CADDY_DOCS}.`,
    );
  }
  let config: Json;
  try {
    config = JSON.parse(response.body) as Json;
  } catch {
    throw new HoltError(
      "HOLT_E_CADDY",
      `${caddyOn(host, endpoint)} answered GET /config/ with something that is not JSON. Check that this port is Caddy's admin API. See ${CADDY_DOCS}.`,
    );
  }
  const sent = response.headers.etag;
  return {
    config,
    body: response.body,
    etag: sent ?? caddy26Etag("/config/", response.body),
    etagFromCaddy: sent !== undefined,
  };
}

export interface ChangeOptions {
  /** Writes tried before giving up on a config that keeps changing. @default 6 */
  readonly attempts?: number;
  /** Waits between attempts; tests pass a fast one. */
  readonly sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_ATTEMPTS = 6;

function backoffMs(attempt: number): number {
  return Math.min(1000, 40 * 2 ** (attempt - 1)) + Math.floor(Math.random() * 40);
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The smallest write that turns `before` into `after`: `POST /config/apps`
 * when only the apps changed (the user's admin, logging and storage settings
 * are never sent back), else the whole config.
 */
function writeFor(before: Json, after: Json): { path: string; body: Json } {
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    keys.delete("apps");
    if ([...keys].every((key) => sameConfig(before[key] ?? null, after[key] ?? null))) {
      return { path: "/config/apps", body: after.apps ?? null };
    }
  }
  return { path: "/config/", body: after };
}

/**
 * Reads the config, applies `edit`, and writes the result with `If-Match`.
 * Nothing is written when the edit changes nothing, so rerunning a finished
 * step is a no-op. On 412 (someone else changed the config in between), a
 * connection lost during the write, or Caddy's half-written certificate
 * metadata (see `storageRace`), it reads again and retries with backoff.
 * `what` completes "could not …" in errors, e.g. `add route "a.example.com"`.
 * Resolves with the config Caddy runs once the change is in: read after any
 * earlier writes, so what it names is what Caddy needs now.
 */
export async function changeCaddyConfig(
  exec: Exec,
  host: string,
  endpoint: AdminEndpoint,
  what: string,
  edit: (config: Json) => Json,
  options: ChangeOptions = {},
): Promise<Json> {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const sleep = options.sleep ?? realSleep;
  let rejected: ConfigSnapshot | undefined;
  let lastProblem = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    // Its own GET, never a shared one: after a 412 it must see the config as it is now.
    const snapshot = await fetchCaddyConfig(exec, host, endpoint);
    if (rejected !== undefined && rejected.body === snapshot.body) {
      // 412 although nothing changed: this Caddy computes ETags differently.
      throw new HoltError(
        "HOLT_E_CADDY",
        `Could not ${what}: ${caddyOn(host, endpoint)} refused holt's If-Match although its config did not change${rejected.etagFromCaddy ? "" : " (it sent no ETag header, so holt computed the value the way Caddy 2.6 does)"}. Use Caddy 2.6 or later. See ${CADDY_DOCS}.`,
      );
    }
    const next = edit(snapshot.config);
    if (sameConfig(snapshot.config, next)) return snapshot.config;
    const retry = await writeOnce(exec, host, endpoint, what, snapshot, next);
    if (retry === undefined) return next;
    lastProblem = retry.problem;
    rejected = retry.rejected;
    await sleep(backoffMs(attempt));
  }
  throw new HoltError(
    "HOLT_E_CADDY",
    `Could not ${what}: ${caddyOn(host, endpoint)} kept failing or changing while holt wrote its config (${attempts} attempts; last: ${lastProblem}). If something else rewrites Caddy's config in a loop, stop it, then run again. See ${CADDY_DOCS}.`,
  );
}

/** Why a config write should be tried again, and the config Caddy refused with a 412. */
interface Retry {
  readonly problem: string;
  readonly rejected?: ConfigSnapshot;
}

/**
 * Writes `next` over `snapshot` once, If-Match its ETag. Undefined once Caddy
 * runs it; a Retry for what a fresh read and another write can get past;
 * throws for what they cannot.
 */
async function writeOnce(
  exec: Exec,
  host: string,
  endpoint: AdminEndpoint,
  what: string,
  snapshot: ConfigSnapshot,
  next: Json,
): Promise<Retry | undefined> {
  const { path, body } = writeFor(snapshot.config, next);
  let response: HttpResponse;
  try {
    response = await exec.http({
      ...endpoint,
      method: "POST",
      path,
      headers: { "content-type": "application/json", "if-match": snapshot.etag },
      body: JSON.stringify(body),
      timeoutMs: 30_000,
    });
  } catch (error) {
    if (!isHoltError(error) || error.code !== "HOLT_E_HTTP") throw error;
    // Caddy may have applied the change before the connection broke; the
    // next read tells, and the edit is then a no-op.
    return { problem: error.message };
  }
  if (response.status === 200) return undefined;
  if (response.status === 412) {
    return {
      problem: "412 Precondition Failed: the config changed between holt's read and write",
      rejected: snapshot,
    };
  }
  if (storageRace(response)) {
    // Caddy before 2.9 (Debian 12 ships 2.6) can read a certificate's metadata file while
    // another config load is writing it; the file is whole a moment later. Caddy keeps its
    // previous config, so loading again is safe.
    return {
      problem: `HTTP ${response.status}: ${caddyError(response)} (Caddy before 2.9 reads certificate metadata files while they are written; a file that stays broken must be removed from Caddy's storage, and upgrading Caddy avoids it)`,
    };
  }
  throw new HoltError(
    "HOLT_E_CADDY",
    `Could not ${what}: ${caddyOn(host, endpoint)} rejected the new config (HTTP ${response.status}): ${caddyError(response)}. Caddy keeps running its previous config. See ${CADDY_DOCS}.`,
  );
}

/** Runs tasks for one host one after another, so holt's own parallel steps do not race each other. */
export function createHostQueue(): <T>(exec: Exec, task: () => Promise<T>) => Promise<T> {
  const tails = new WeakMap<Exec, Promise<unknown>>();
  return (exec, task) => {
    const run = (tails.get(exec) ?? Promise.resolve()).then(task);
    tails.set(
      exec,
      run.catch(() => undefined),
    );
    return run;
  };
}
