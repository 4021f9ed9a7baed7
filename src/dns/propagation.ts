/**
 * Waits until a change is served by every authoritative server of a zone,
 * asking each one directly (never the local recursive resolver, whose cache
 * would answer with what it saw before), and finds those servers: the
 * zone's NS records resolved to addresses, or the list the config gives.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { HoltError } from "../errors.ts";
import type { ZoneConnection } from "./connection.ts";
import { queryServer } from "./query.ts";
import { isInZone, normalizeName, normalizeValue, zonePath } from "./records.ts";
import { formatServer, parseServer } from "./transport.ts";
import type { RecordType } from "./types.ts";

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Pause between rounds of questions. @default 500 */
  readonly pollMs?: number;
}

const DEFAULT_POLL_MS = 500;
/** A single question never waits longer than this, so one dead server cannot eat a round. */
const MAX_QUERY_MS = 2000;

type Want = "present" | "absent";

/**
 * Resolves once every server answers authoritatively with `value` among the
 * records at name/type. Throws HOLT_E_DNS naming the servers that still do
 * not, and what they last said, when `timeoutMs` passes first.
 */
export function waitUntilServed(
  servers: readonly string[],
  name: string,
  type: RecordType,
  value: string,
  options: WaitOptions,
): Promise<{ waitedMs: number }> {
  return waitFor(servers, name, type, value, "present", options);
}

/** Resolves once every server answers authoritatively without `value` (or with no such records). */
export function waitUntilGone(
  servers: readonly string[],
  name: string,
  type: RecordType,
  value: string,
  options: WaitOptions,
): Promise<{ waitedMs: number }> {
  return waitFor(servers, name, type, value, "absent", options);
}

async function waitFor(
  servers: readonly string[],
  rawName: string,
  type: RecordType,
  rawValue: string,
  want: Want,
  options: WaitOptions,
): Promise<{ waitedMs: number }> {
  const name = normalizeName(rawName);
  const value = normalizeValue(type, rawValue) ?? rawValue;
  const what = `The ${type} record ${name} = ${JSON.stringify(value)}`;
  if (servers.length === 0) {
    throw new HoltError(
      "HOLT_E_DNS",
      `${what} cannot be checked: there are no name servers to ask. Set the zone's \`nameservers\` in the config.`,
    );
  }
  for (const server of servers) parseServer(server); // a typo fails now, not after the timeout
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  /** Server → what it said last time it did not match. */
  const pending = new Map<string, string>(servers.map((s) => [s, "was not asked yet"]));
  for (;;) {
    await Promise.all(
      [...pending.keys()].map(async (server) => {
        const status = await check(server, name, type, value, want, deadline);
        if (status === null) pending.delete(server);
        else pending.set(server, status);
      }),
    );
    const now = Date.now();
    if (pending.size === 0) return { waitedMs: now - started };
    if (now + pollMs > deadline) break;
    await sleep(pollMs);
  }
  const late = [...pending].map(([server, status]) => `${server} (${status})`).join(", ");
  const doing = want === "present" ? "is still not served" : "is still served";
  throw new HoltError(
    "HOLT_E_DNS",
    `${what} ${doing} by ${pending.size} of ${servers.length} name servers after ${options.timeoutMs} ms: ${late}. Check that every name server gets the zone's changes from the primary (NOTIFY and zone transfers), or set the zone's \`nameservers\` in the config to the servers holt should wait on.`,
  );
}

/** null when the server answers as wanted, else what it said instead. */
async function check(
  server: string,
  name: string,
  type: RecordType,
  value: string,
  want: Want,
  deadline: number,
): Promise<string | null> {
  const timeoutMs = Math.max(100, Math.min(MAX_QUERY_MS, deadline - Date.now()));
  try {
    const r = await queryServer(server, name, type, { timeoutMs });
    if (r.rcode !== "NOERROR" && r.rcode !== "NXDOMAIN") return `answered ${r.rcode}`;
    if (!r.authoritative) return "does not serve the zone: its answer is not authoritative";
    const has = r.answers.some(
      (a) => a.name === name && a.type === type && normalizeValue(type, a.value) === value,
    );
    if (has === (want === "present")) return null;
    return want === "present" ? "answers without it" : "still answers with it";
  } catch (error) {
    if (error instanceof HoltError && error.code === "HOLT_E_DNS") {
      return `no usable answer: ${error.message}`;
    }
    throw error;
  }
}

/** Looks names up somewhere for resolveNameservers; [] when there is no such record. */
export type NameLookup = (name: string, type: "NS" | "A" | "AAAA") => Promise<string[]>;

export interface NameserverSources {
  /**
   * Answers for names inside the zone, from the zone itself (its primary, an
   * API), so a zone nobody delegated to yet still works. Without it, the
   * system resolver answers everything.
   */
  readonly zoneLookup?: NameLookup;
  /** @default the system's resolver (node:dns) */
  readonly systemLookup?: NameLookup;
}

/**
 * The servers to wait on for a zone, as "address:53": `conn.nameservers` as
 * is when set, else the zone's NS records, each resolved to its IPv4 and
 * IPv6 addresses. The RFC 2136 backend asks its primary for the zone's own
 * names (pass `zoneLookup`); other names go to the system resolver.
 */
export async function resolveNameservers(
  conn: ZoneConnection,
  sources: NameserverSources = {},
): Promise<string[]> {
  if (conn.nameservers !== null) return [...conn.nameservers];
  const timeoutMs = conn.timeoutMs ?? 5000;
  const system = sources.systemLookup ?? systemLookup(timeoutMs);
  const zone = conn.zone;
  const lookupFor = (name: string): NameLookup =>
    sources.zoneLookup !== undefined && isInZone(name, zone) ? sources.zoneLookup : system;
  const fail = (why: string, cause?: unknown): HoltError =>
    new HoltError(
      "HOLT_E_DNS",
      `The name servers of DNS zone "${zone}" (${conn.kind}) could not be found: ${why}. Set ${zonePath(zone)}.nameservers to the servers holt should wait on after a change, like ["192.0.2.1:53"].`,
      cause === undefined ? {} : { cause },
    );
  let hosts: string[];
  try {
    hosts = (await lookupFor(zone)(zone, "NS")).map(normalizeName);
  } catch (error) {
    throw fail(`asking for its NS records failed (${messageOf(error)})`, error);
  }
  if (hosts.length === 0) throw fail("it has no NS records");
  const found = new Set<string>();
  for (const host of [...new Set(hosts)].sort()) {
    const lookup = lookupFor(host);
    for (const type of ["A", "AAAA"] as const) {
      let addresses: string[];
      try {
        addresses = await lookup(host, type);
      } catch (error) {
        throw fail(
          `looking up ${type} of its name server ${host} failed (${messageOf(error)})`,
          error,
        );
      }
      for (const address of addresses) found.add(formatServer({ host: address, port: 53 }));
    }
  }
  if (found.size === 0) throw fail(`its name servers (${hosts.join(", ")}) have no addresses`);
  return [...found].sort();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** NS, A and AAAA through node:dns (the system's configured resolvers); no data is []. */
function systemLookup(timeoutMs: number): NameLookup {
  const { Resolver } = process.getBuiltinModule("node:dns/promises");
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  return async (name, type) => {
    try {
      if (type === "NS") return await resolver.resolveNs(name);
      if (type === "A") return await resolver.resolve4(name);
      return await resolver.resolve6(name);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENODATA" || code === "ENOTFOUND") return [];
      throw error;
    }
  };
}

/** A NameLookup that asks one authoritative server (the RFC 2136 primary) directly. */
export function serverLookup(server: string, timeoutMs: number): NameLookup {
  return async (name, type) => {
    const r = await queryServer(server, name, type, { timeoutMs });
    if (r.rcode === "NXDOMAIN") return [];
    if (r.rcode !== "NOERROR") throw new Error(`${server} answered ${r.rcode}`);
    return r.answers.filter((a) => a.name === name && a.type === type).map((a) => a.value);
  };
}
