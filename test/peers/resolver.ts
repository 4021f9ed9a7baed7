/**
 * A recursive resolver for tests (BIND 9.18 with recursion on), the kind of
 * server an ACME CA asks: it forwards each test zone to its authoritative
 * server and follows CNAMEs across zones, which an authoritative server
 * alone does not. Caching is kept to one second, so a challenge value that
 * changed is seen at once.
 *
 *   const resolver = await startResolver({ "lab.test": knot.server });
 *   const pebble = await startPebble({ dnsServer: resolver.server });
 *
 * Test infrastructure: it runs named directly, not through holt's Exec.
 */

import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { namedOptions } from "./bind.ts";
import { startServer } from "./dns-peer.ts";

export interface ResolverPeer {
  /** "127.0.0.1:<port>" (UDP and TCP). */
  readonly server: string;
  readonly logPath: string;
  stop(): Promise<void>;
}

/** `forwards`: zone → the "127.0.0.1:port" of its authoritative server. */
export async function startResolver(
  forwards: Readonly<Record<string, string>>,
): Promise<ResolverPeer> {
  const zones = Object.keys(forwards);
  const first = zones[0];
  if (first === undefined) throw new Error("startResolver needs at least one zone to forward");
  const started = await startServer(
    {
      program: "named",
      prefix: "holt-resolver-",
      portCount: 1,
      notAuthoritative: true,
      prepare(dir, [port]) {
        const conf = [
          ...namedOptions(dir, port ?? 0, [
            "recursion yes;",
            "allow-recursion { 127.0.0.0/8; };",
            "max-cache-ttl 1;",
            "max-ncache-ttl 1;",
          ]),
          ...zones.flatMap((zone) => {
            const [address, zonePort] = (forwards[zone] ?? "").split(":");
            return [
              `zone "${zone}" {`,
              "  type forward;",
              "  forward only;",
              `  forwarders { ${address} port ${zonePort}; };`,
              "};",
            ];
          }),
          "",
        ].join("\n");
        writeFileSync(path.join(dir, "named.conf"), conf);
        return ["named", "-g", "-4", "-n", "1", "-c", path.join(dir, "named.conf")];
      },
      async ready([port]) {
        // A recursive query (holt's own client asks without recursion, as authoritative servers want).
        const r = spawnSync(
          "kdig",
          ["-p", String(port), "@127.0.0.1", first, "SOA", "+retry=0", "+timeout=1"],
          { encoding: "utf8" },
        );
        return /status: NOERROR/.test(r.stdout) && /ANSWER: [1-9]/.test(r.stdout);
      },
    },
    first,
  );
  const port = started.ports[0] ?? 0;
  return { server: `127.0.0.1:${port}`, logPath: started.logPath, stop: started.stop };
}
