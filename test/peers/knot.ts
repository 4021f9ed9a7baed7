/**
 * A real Knot DNS (knotd 3.2) for tests: one primary zone from a zone file,
 * RFC 2136 updates allowed with a generated TSIG key, on a free port of
 * 127.0.0.1, with a control socket for `knotc` (the "by hand" tool).
 *
 *   const knot = await startKnot({ zone: "lab.test" });
 *   t.after(() => knot.stop());
 *
 * Test infrastructure: it runs knotd and knotc directly, not through holt's Exec.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { queryServer } from "../../src/dns/query.ts";
import {
  type DnsPeer,
  type DnsPeerOptions,
  kdig,
  newTsigKey,
  presentation,
  startServer,
  zoneFile,
} from "./dns-peer.ts";

export async function startKnot(options: DnsPeerOptions = {}): Promise<DnsPeer> {
  const zone = options.zone ?? "lab.test";
  const tsig = newTsigKey(options.algorithm);
  let socket = "";
  const started = await startServer(
    {
      program: "knotd",
      prefix: "holt-knot-",
      portCount: 1,
      prepare(dir, [port]) {
        socket = path.join(dir, "knot.sock");
        writeFileSync(path.join(dir, `${zone}.zone`), zoneFile(zone));
        const conf = [
          "server:",
          `  rundir: "${dir}"`,
          `  listen: 127.0.0.1@${port}`,
          "  udp-workers: 1",
          "  tcp-workers: 1",
          "  background-workers: 1",
          "control:",
          `  listen: "${socket}"`,
          "database:",
          `  storage: "${dir}"`,
          "log:",
          "  - target: stderr",
          "    any: info",
          "key:",
          `  - id: ${tsig.name}`,
          `    algorithm: ${tsig.algorithm}`,
          `    secret: ${tsig.secret}`,
          "acl:",
          "  - id: update",
          `    key: ${tsig.name}`,
          "    action: update",
          "zone:",
          `  - domain: ${zone}`,
          `    file: "${path.join(dir, `${zone}.zone`)}"`,
          "    acl: update",
          // Keep the zone file as written; changes live in the journal (no flush races with tests).
          "    zonefile-sync: -1",
          "    journal-content: changes",
          "",
        ].join("\n");
        writeFileSync(path.join(dir, "knot.conf"), conf);
        return ["knotd", "-c", path.join(dir, "knot.conf")];
      },
    },
    zone,
  );
  const port = started.ports[0] ?? 0;

  const knotc = (...args: string[]): { ok: boolean; out: string } => {
    const r = spawnSync("knotc", ["-s", socket, ...args], { encoding: "utf8", timeout: 10_000 });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
  };

  return {
    kind: "knot",
    zone,
    port,
    server: `127.0.0.1:${port}`,
    tsig,
    dir: started.dir,
    logPath: started.logPath,
    query: (name, type) => queryServer(`127.0.0.1:${port}`, name, type, { timeoutMs: 5000 }),
    dig: (name, type) => kdig(port, name, type),
    async setByHand(name, type, ttl, values) {
      const begin = knotc("zone-begin", zone);
      if (!begin.ok) throw new Error(`knotc zone-begin: ${begin.out}`);
      knotc("zone-unset", zone, `${name}.`, type); // fails harmlessly when absent
      for (const value of values) {
        const set = knotc("zone-set", zone, `${name}.`, String(ttl), type, presentation(type, value));
        if (!set.ok) {
          knotc("zone-abort", zone);
          throw new Error(`knotc zone-set ${name} ${type}: ${set.out}`);
        }
      }
      const commit = knotc("zone-commit", zone);
      if (!commit.ok) throw new Error(`knotc zone-commit: ${commit.out}`);
    },
    stop: started.stop,
  };
}
