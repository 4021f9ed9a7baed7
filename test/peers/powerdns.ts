/**
 * A real PowerDNS Authoritative (pdns_server 4.7) for tests: the gsqlite3
 * backend in a temp folder, the zone loaded with `pdnsutil load-zone`, the
 * HTTP API on a free port with a generated API key, DNS on another, all on
 * 127.0.0.1. Its "by hand" tool is `pdnsutil`, writing to the same database.
 *
 *   const pdns = await startPowerDns({ zone: "lab.test" });
 *   t.after(() => pdns.stop());
 *
 * Caches are off (cache-ttl=0 and friends) so a change made with pdnsutil is
 * served at once, as the tests expect.
 *
 * Test infrastructure: it runs pdns_server, pdnsutil and sqlite3 directly, not through holt's Exec.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { queryServer } from "../../src/dns/query.ts";
import {
  type DnsPeer,
  type DnsPeerOptions,
  kdig,
  newTsigKeys,
  presentation,
  servedValues,
  startServer,
  zoneFile,
} from "./dns-peer.ts";

export interface PowerDnsPeer extends DnsPeer {
  readonly kind: "powerdns";
  /** "http://127.0.0.1:<port>" */
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly serverId: "localhost";
}

const SCHEMA_PATHS = [
  "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql",
  "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql",
];

function run(program: string, args: readonly string[], input?: string): string {
  const r = spawnSync(program, args, { encoding: "utf8", input, timeout: 20_000 });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${r.error?.message ?? ""}${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}

async function apiAnswers(url: string, apiKey: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/api/v1/servers/localhost`, {
      headers: { "X-API-Key": apiKey },
      signal: AbortSignal.timeout(1000),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function startPowerDns(options: DnsPeerOptions = {}): Promise<PowerDnsPeer> {
  const zone = options.zone ?? "lab.test";
  const apiKey = randomBytes(24).toString("base64url");
  const schema = SCHEMA_PATHS.find((p) => existsSync(p));
  if (schema === undefined) {
    throw new Error("The PowerDNS sqlite schema is missing: install pdns-backend-sqlite3.");
  }
  let configDir = "";
  const started = await startServer(
    {
      program: "pdns_server",
      prefix: "holt-pdns-",
      portCount: 2,
      prepare(dir, [dnsPort, apiPort]) {
        configDir = dir;
        const db = path.join(dir, "pdns.sqlite3");
        run("sqlite3", [db], `.read ${schema}\n`);
        const conf = [
          "launch=gsqlite3",
          `gsqlite3-database=${db}`,
          "local-address=127.0.0.1",
          `local-port=${dnsPort}`,
          "api=yes",
          `api-key=${apiKey}`,
          "webserver=yes",
          "webserver-address=127.0.0.1",
          `webserver-port=${apiPort}`,
          "webserver-allow-from=127.0.0.0/8",
          `socket-dir=${dir}`,
          "disable-syslog=yes",
          // Off: a change made by hand with pdnsutil must be served at once.
          "cache-ttl=0",
          "query-cache-ttl=0",
          "negquery-cache-ttl=0",
          "zone-cache-refresh-interval=0",
          // No security-status query to the internet.
          "security-poll-suffix=",
          "distributor-threads=1",
          "receiver-threads=1",
          "loglevel=4",
          // Each API change is a sqlite commit; without fsync it takes ~5 ms instead of ~50.
          "gsqlite3-pragma-synchronous=0",
          "",
        ].join("\n");
        writeFileSync(path.join(dir, "pdns.conf"), conf);
        const file = path.join(dir, `${zone}.zone`);
        writeFileSync(file, zoneFile(zone));
        run("pdnsutil", [`--config-dir=${dir}`, "load-zone", zone, file]);
        return ["pdns_server", `--config-dir=${dir}`, "--daemon=no", "--guardian=no"];
      },
      ready: ([, apiPort]) => apiAnswers(`http://127.0.0.1:${apiPort}`, apiKey),
    },
    zone,
  );
  const [port = 0, apiPort = 0] = started.ports;
  const pdnsutil = (...args: string[]): string =>
    run("pdnsutil", [`--config-dir=${configDir}`, ...args]);

  return {
    kind: "powerdns",
    zone,
    port,
    server: `127.0.0.1:${port}`,
    tsig: newTsigKeys().tsig,
    keys: [],
    apiUrl: `http://127.0.0.1:${apiPort}`,
    apiKey,
    serverId: "localhost",
    dir: started.dir,
    logPath: started.logPath,
    query: (name, type) => queryServer(`127.0.0.1:${port}`, name, type, { timeoutMs: 5000 }),
    served: (name, type) => servedValues(port, name, type),
    dig: (name, type) => kdig(port, name, type),
    async setByHand(name, type, ttl, values) {
      // pdnsutil takes names relative to the zone, even with a trailing dot ("@" for the apex).
      const relative = name === zone ? "@" : name.slice(0, -(zone.length + 1));
      if (values.length === 0) {
        pdnsutil("delete-rrset", zone, relative, type);
        return;
      }
      pdnsutil(
        "replace-rrset",
        zone,
        relative,
        type,
        String(ttl),
        ...values.map((value) => presentation(type, value)),
      );
    },
    stop: started.stop,
  };
}
