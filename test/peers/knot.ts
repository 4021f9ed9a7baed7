/**
 * A real Knot DNS (knotd 3.2) for tests: one primary zone from a zone file,
 * RFC 2136 updates allowed with a generated TSIG key, on a free port of
 * 127.0.0.1. Its "by hand" tool is Knot's own `knsupdate`.
 *
 *   const knot = await startKnot({ zone: "lab.test" });
 *   t.after(() => knot.stop());
 *
 * Test infrastructure: it runs knotd and knsupdate directly, not through holt's Exec.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { queryServer } from "../../src/dns/query.ts";
import { zoneFor } from "../../src/util/zone.ts";
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

export async function startKnot(options: DnsPeerOptions = {}): Promise<DnsPeer> {
  const zone = options.zone ?? "lab.test";
  const zones = [zone, ...(options.extraZones ?? [])];
  /** The zone a name is in: the longest apex it ends with. */
  const zoneOf = (name: string): string =>
    zoneFor(
      name,
      zones.map((z) => ({ zone: z })),
    )?.zone ?? zone;
  const { tsig, keys } = newTsigKeys(options.algorithm);
  const started = await startServer(
    {
      program: "knotd",
      prefix: "holt-knot-",
      portCount: 1,
      prepare(dir, [port]) {
        const socket = path.join(dir, "knot.sock");
        for (const z of zones) writeFileSync(path.join(dir, `${z}.zone`), zoneFile(z));
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
          ...keys.flatMap((key) => [
            `  - id: ${key.name}`,
            `    algorithm: ${key.algorithm}`,
            `    secret: ${key.secret}`,
          ]),
          "acl:",
          "  - id: update",
          `    key: [${keys.map((key) => key.name).join(", ")}]`,
          "    action: update",
          "zone:",
          ...zones.flatMap((z) => [
            `  - domain: ${z}`,
            `    file: "${path.join(dir, `${z}.zone`)}"`,
            "    acl: update",
            // Keep the zone file as written; changes live in the journal (no flush races with tests).
            "    zonefile-sync: -1",
            "    journal-content: changes",
          ]),
          "",
        ].join("\n");
        writeFileSync(path.join(dir, "knot.conf"), conf);
        return ["knotd", "-c", path.join(dir, "knot.conf")];
      },
    },
    zone,
  );
  const port = started.ports[0] ?? 0;

  return {
    kind: "knot",
    zone,
    port,
    server: `127.0.0.1:${port}`,
    tsig,
    keys,
    dir: started.dir,
    logPath: started.logPath,
    query: (name, type) => queryServer(`127.0.0.1:${port}`, name, type, { timeoutMs: 5000 }),
    served: (name, type) => servedValues(port, name, type),
    dig: (name, type) => kdig(port, name, type),
    async setByHand(name, type, ttl, values) {
      // knsupdate is Knot's own nsupdate: one process, a raw update signed with the zone's key.
      // (knotc's zone-set would do too, but takes one process per step and mangles quotes in batch mode.)
      const script = [
        `server 127.0.0.1 ${port}`,
        `zone ${zoneOf(name)}.`,
        `update delete ${name}. ${type}`,
        ...values.map((value) => `update add ${name}. ${ttl} ${type} ${presentation(type, value)}`),
        "send",
        "",
      ].join("\n");
      const r = spawnSync("knsupdate", ["-y", `${tsig.algorithm}:${tsig.name}:${tsig.secret}`], {
        input: script,
        encoding: "utf8",
        timeout: 10_000,
      });
      if (r.status !== 0 || /error|failed/i.test(r.stderr)) {
        throw new Error(`knsupdate failed: ${r.stderr}${r.stdout}`);
      }
    },
    stop: started.stop,
  };
}
