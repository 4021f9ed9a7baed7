/**
 * A real BIND (named 9.18) for tests: one primary zone from a zone file,
 * RFC 2136 updates allowed with a generated TSIG key (`allow-update { key }`),
 * on a free port of 127.0.0.1. Its "by hand" tool is BIND's own `nsupdate`.
 *
 *   const bind = await startBind({ zone: "lab.test" });
 *   t.after(() => bind.stop());
 *
 * Test infrastructure: it runs named and nsupdate directly, not through holt's Exec.
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

/**
 * The `options` and `controls` of a named.conf that keeps everything in `dir`
 * and listens on 127.0.0.1:`port` only, plus `extra` options.
 */
export function namedOptions(dir: string, port: number, extra: readonly string[]): string[] {
  return [
    "options {",
    `  directory "${dir}";`,
    `  pid-file "${path.join(dir, "named.pid")}";`,
    `  session-keyfile "${path.join(dir, "session.key")}";`,
    `  managed-keys-directory "${dir}";`,
    `  listen-on port ${port} { 127.0.0.1; };`,
    "  listen-on-v6 { none; };",
    "  dnssec-validation no;",
    ...extra.map((line) => `  ${line}`),
    "};",
    // No rndc channel: by default named would take 127.0.0.1:953, shared by every instance.
    "controls { };",
  ];
}

export async function startBind(options: DnsPeerOptions = {}): Promise<DnsPeer> {
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
      program: "named",
      prefix: "holt-bind-",
      portCount: 1,
      prepare(dir, [port]) {
        for (const z of zones) writeFileSync(path.join(dir, `${z}.zone`), zoneFile(z));
        const conf = [
          ...namedOptions(dir, port ?? 0, ["recursion no;", "notify no;"]),
          ...keys.flatMap((key) => [
            `key "${key.name}" {`,
            `  algorithm ${key.algorithm};`,
            `  secret "${key.secret}";`,
            "};",
          ]),
          ...zones.flatMap((z) => [
            `zone "${z}" {`,
            "  type primary;",
            `  file "${path.join(dir, `${z}.zone`)}";`,
            `  allow-update { ${keys.map((key) => `key "${key.name}";`).join(" ")} };`,
            "};",
          ]),
          "",
        ].join("\n");
        writeFileSync(path.join(dir, "named.conf"), conf);
        // -g: foreground, log to stderr. -n 1: one worker thread. -4: IPv4 only.
        return ["named", "-g", "-4", "-n", "1", "-c", path.join(dir, "named.conf")];
      },
    },
    zone,
  );
  const port = started.ports[0] ?? 0;

  return {
    kind: "bind",
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
      const script = [
        `server 127.0.0.1 ${port}`,
        `zone ${zoneOf(name)}`,
        `update delete ${name}. ${type}`,
        ...values.map((value) => `update add ${name}. ${ttl} ${type} ${presentation(type, value)}`),
        "send",
        "",
      ].join("\n");
      const r = spawnSync(
        "nsupdate",
        ["-v", "-y", `${tsig.algorithm}:${tsig.name}:${tsig.secret}`],
        {
          input: script,
          encoding: "utf8",
          timeout: 10_000,
        },
      );
      if (r.status !== 0) throw new Error(`nsupdate failed: ${r.stderr}${r.stdout}`);
    },
    stop: started.stop,
  };
}
