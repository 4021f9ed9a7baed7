/**
 * What the Knot, BIND and PowerDNS test peers share: a temp folder, free
 * ports, a zone file, a TSIG key, the server started in the foreground under
 * `setpriv --pdeathsig KILL` (so it dies with the test process), an exit
 * handler for the rest, a wait until the zone is served, and `stop()`.
 *
 * A server that fails to start (most often: another process took the UDP
 * port between choosing and binding) is started again on new ports.
 *
 * Test infrastructure: it runs the servers directly, not through holt's Exec.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { TsigAlgorithm, TsigKey } from "../../src/dns/connection.ts";
import { type QueryResult, queryServer } from "../../src/dns/query.ts";
import type { QueryType } from "../../src/dns/wire.ts";
import { freePorts } from "./ports.ts";
import { findProgram, pidAlive } from "./process.ts";

export interface DnsPeerOptions {
  /** @default "lab.test" */
  readonly zone?: string;
  /** The algorithm of `tsig`, the key tests use by default. @default "hmac-sha256" */
  readonly algorithm?: TsigAlgorithm;
  /** More zones the server is primary for, with the same keys (Knot and BIND). @default [] */
  readonly extraZones?: readonly string[];
}

export const TSIG_ALGORITHMS: readonly TsigAlgorithm[] = [
  "hmac-md5",
  "hmac-sha1",
  "hmac-sha224",
  "hmac-sha256",
  "hmac-sha384",
  "hmac-sha512",
];

/** What every DNS peer offers a test. */
export interface DnsPeer {
  readonly kind: "knot" | "bind" | "powerdns";
  readonly zone: string;
  /** DNS (UDP and TCP) on 127.0.0.1. */
  readonly port: number;
  /** "127.0.0.1:<port>", as holt's `nameservers` take it. */
  readonly server: string;
  /** The key the server accepts RFC 2136 updates with (Knot, BIND; PowerDNS: none, so unused). */
  readonly tsig: TsigKey;
  /** `tsig` and one more key per other algorithm, all allowed to update the zone (Knot, BIND). */
  readonly keys: readonly TsigKey[];
  readonly dir: string;
  readonly logPath: string;
  /** Asks the server with holt's query client. */
  query(name: string, type: QueryType): Promise<QueryResult>;
  /** The values served at name/type (holt's query client, over DNS), sorted. */
  served(name: string, type: QueryType): Promise<string[]>;
  /** The values at name/type as `kdig` sees them (an independent reader, but ~50 ms a call), sorted. */
  dig(name: string, type: string): string[];
  /** Replaces a record set with the server's own tool, as a person would (no values: delete it). */
  setByHand(name: string, type: string, ttl: number, values: readonly string[]): Promise<void>;
  /** Stops the server and deletes its folder. Safe to call more than once. */
  stop(): Promise<void>;
}

/** How one kind of server is set up and started. */
export interface ServerRecipe {
  readonly program: string;
  readonly prefix: string;
  readonly portCount: number;
  /** Writes config files into `dir`; returns the argv to start the server in the foreground. */
  prepare(dir: string, ports: readonly number[]): string[];
  /** Extra readiness check beyond "the zone's SOA is served" (e.g. an HTTP API). */
  ready?(ports: readonly number[]): Promise<boolean>;
  /** A resolver serves no zone of its own: only `ready` tells. */
  readonly notAuthoritative?: boolean;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3;

interface Instance {
  dir: string;
  child: ChildProcess | undefined;
}
const live = new Set<Instance>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const instance of live) {
      instance.child?.kill("SIGKILL");
      rmSync(instance.dir, { recursive: true, force: true });
    }
    live.clear();
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.exit(128 + (signal === "SIGINT" ? 2 : 15));
    });
  }
}

/** Folders of test processes that died before cleaning up (their servers died with them). */
function removeStaleDirs(prefix: string): void {
  for (const name of readdirSync(tmpdir())) {
    const match = new RegExp(`^${prefix}(\\d+)-`).exec(name);
    if (match === null || pidAlive(Number(match[1]))) continue;
    rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
  }
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** One fresh key per algorithm, named "holt-<algorithm>"; `tsig` is the one for `algorithm`. */
export function newTsigKeys(algorithm: TsigAlgorithm = "hmac-sha256"): {
  tsig: TsigKey;
  keys: TsigKey[];
} {
  const keys = TSIG_ALGORITHMS.map((a) => ({
    name: `holt-${a}`,
    algorithm: a,
    secret: randomBytes(32).toString("base64"),
  }));
  const tsig = keys.find((key) => key.algorithm === algorithm);
  if (tsig === undefined) throw new Error(`unknown TSIG algorithm ${algorithm}`);
  return { tsig, keys };
}

/** The zone file every peer starts from: SOA, NS ns1, ns1 A 127.0.0.1. */
export function zoneFile(zone: string): string {
  return [
    `$ORIGIN ${zone}.`,
    "$TTL 300",
    `@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 300`,
    `@ IN NS ns1.${zone}.`,
    "ns1 IN A 127.0.0.1",
    "",
  ].join("\n");
}

export interface StartedServer {
  readonly dir: string;
  readonly ports: readonly number[];
  readonly logPath: string;
  stop(): Promise<void>;
}

/** Starts a server from its recipe, waits until `zone` is served authoritatively. */
export async function startServer(recipe: ServerRecipe, zone: string): Promise<StartedServer> {
  const program = findProgram(recipe.program, ["/usr/sbin", "/usr/bin"]);
  if (program === undefined) {
    throw new Error(
      `${recipe.program} is not installed (see the test setup: knot, bind9, pdns-server).`,
    );
  }
  const setpriv = findProgram("setpriv", ["/usr/bin"]);
  removeStaleDirs(recipe.prefix);
  hookExit();
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const dir = mkdtempSync(path.join(tmpdir(), `${recipe.prefix}${process.pid}-`));
    const instance: Instance = { dir, child: undefined };
    live.add(instance);
    const stop = async (): Promise<void> => {
      const child = instance.child;
      instance.child = undefined;
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
        await gone;
        clearTimeout(timer);
      }
      live.delete(instance);
      rmSync(dir, { recursive: true, force: true });
    };
    const ports = await freePorts(recipe.portCount);
    const logPath = path.join(dir, "server.log");
    try {
      const [first = program, ...rest] = recipe.prepare(dir, ports);
      const argv = [first === recipe.program ? program : first, ...rest];
      const [cmd = program, ...args] =
        setpriv === undefined ? argv : [setpriv, "--pdeathsig", "KILL", "--", ...argv];
      // Output goes to a file, never a pipe: a full pipe would block the server.
      const log = openSync(logPath, "a");
      const child = spawn(cmd, args, { stdio: ["ignore", log, log], cwd: dir });
      closeSync(log);
      instance.child = child;
      let exited = false;
      child.once("exit", () => {
        exited = true;
      });
      const deadline = Date.now() + READY_TIMEOUT_MS;
      let ready = false;
      while (!exited && Date.now() < deadline) {
        ready =
          (recipe.notAuthoritative === true || (await soaServed(ports[0] ?? 0, zone))) &&
          ((await recipe.ready?.(ports)) ?? true);
        if (ready) break;
        await sleep(50);
      }
      if (ready) return { dir, ports, logPath, stop };
      const why = exited ? "exited" : `did not serve ${zone} within ${READY_TIMEOUT_MS} ms`;
      lastError = new Error(`${recipe.program} ${why}. Its log:\n${tail(logPath)}`);
      await stop();
      if (!exited) break; // a hang is not a port race: do not try again
    } catch (error) {
      await stop();
      throw error;
    }
  }
  throw lastError ?? new Error(`${recipe.program} did not start`);
}

async function soaServed(port: number, zone: string): Promise<boolean> {
  try {
    const r = await queryServer(`127.0.0.1:${port}`, zone, "SOA", { timeoutMs: 300 });
    return r.rcode === "NOERROR" && r.authoritative && r.answers.some((a) => a.type === "SOA");
  } catch {
    return false;
  }
}

/** TXT values quoted for a zone file / kdig's output, the inverse of what kdig prints. */
export function quoteTxt(value: string): string {
  const bytes = Buffer.from(value, "utf8");
  const parts: string[] = [];
  for (let i = 0; i < Math.max(1, bytes.length); i += 255) {
    let out = "";
    for (const byte of bytes.subarray(i, i + 255)) {
      if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
      else if (byte < 0x20 || byte > 0x7e) out += `\\${String(byte).padStart(3, "0")}`;
      else out += String.fromCharCode(byte);
    }
    parts.push(`"${out}"`);
  }
  return parts.join(" ");
}

/** Record data for a zone-file-style tool: TXT quoted, names absolute. */
export function presentation(type: string, value: string): string {
  if (type === "TXT") return quoteTxt(value);
  if (type === "CNAME" || type === "NS") return `${value}.`;
  return value;
}

/** Joins zone-file quoted strings (`"a\"b" "c\032d"`) into their text. */
export function unquoteTxt(text: string): string {
  const bytes: number[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') {
      i++;
      continue;
    }
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") {
        const digits = /^\d{3}/.exec(text.slice(i + 1));
        if (digits !== null) {
          bytes.push(Number(digits[0]));
          i += 4;
        } else {
          bytes.push(...Buffer.from(text[i + 1] ?? "", "utf8"));
          i += 2;
        }
      } else {
        const ch = text.codePointAt(i) ?? 0;
        const s = String.fromCodePoint(ch);
        bytes.push(...Buffer.from(s, "utf8"));
        i += s.length;
      }
    }
    i++;
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The values at name/type according to kdig over TCP, sorted: an independent check of what holt reads. */
export function kdig(port: number, name: string, type: string): string[] {
  const r = spawnSync(
    "kdig",
    ["@127.0.0.1", "-p", String(port), "+tcp", "+norec", "+short", `${name}.`, type],
    { encoding: "utf8", timeout: 10_000 },
  );
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`kdig ${name} ${type} failed: ${r.error?.message ?? r.stderr}`);
  }
  return r.stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      if (type === "TXT") return unquoteTxt(line);
      if (type === "CNAME") return line.trim().replace(/\.$/, "").toLowerCase();
      return line.trim();
    })
    .sort();
}

/** The values served at name/type, sorted, asked with holt's query client. */
export async function servedValues(port: number, name: string, type: QueryType): Promise<string[]> {
  const r = await queryServer(`127.0.0.1:${port}`, name, type, { timeoutMs: 5000 });
  return r.answers
    .filter((a) => a.name === name && a.type === type)
    .map((a) => a.value)
    .sort();
}
