/**
 * Which group holt lets read Caddy's certificate files (key-files.ts): the
 * group of the process that listens on the lab's admin endpoint, found with
 * `ss -lpn` and `/proc/<pid>/status`. Pure: host-keys.ts runs the commands.
 *
 * Whatever listens there gets the keys, so the choice is careful:
 *
 * - only the socket that holt's own requests reach counts: the exact address
 *   (or, when nothing is bound to it, the wildcard that then takes them) or
 *   the exact socket path; a listener on another loopback address with the
 *   same port (127.0.0.2:2019), which any user may open, is not Caddy;
 * - one process, or none: two processes there cannot both be Caddy;
 * - a process of root, or of a system account (uid 1 to 999, not
 *   `nobody`): an ordinary user can start a process of their own on a
 *   loopback port while Caddy is down, but not one of a system account.
 *
 * When any of that fails, only root may read the files; a Caddy that is not
 * root then refuses them, and the error says why (`whyUnknown`).
 */
import type { AdminEndpoint } from "./admin.ts";

/** Above this, a uid is an ordinary user's (Debian's and most distributions' SYS_UID_MAX). */
const SYS_UID_MAX = 999;
/** `nobody` and `nogroup`: shared by unrelated daemons (and NFS's squashed root). */
const NOBODY = 65534;

/** Who reads Caddy's files, besides root. */
export type CaddyUser =
  /** Caddy runs as root: the files are root's alone. */
  | { readonly kind: "root" }
  /** Caddy runs as a system account: root's files, readable by its group. */
  | { readonly kind: "group"; readonly gid: number }
  /** Not known, or not trusted: root's alone, and why (for the error when Caddy cannot read them). */
  | { readonly kind: "unknown"; readonly why: string };

/**
 * `ss` listing the listening sockets the endpoint could be: the TCP ones on
 * its port, or every Unix one (`ss`'s `src` filter would read a path as a
 * glob pattern, so the path is compared here instead).
 */
export function listenerArgv(endpoint: AdminEndpoint): string[] {
  return endpoint.socketPath !== undefined
    ? ["ss", "-Hxlpn"]
    : ["ss", "-Htlpn", "sport", "=", `:${endpoint.port}`];
}

/** One listening socket of `ss -Hlpn`: its local address and the processes holding it. */
interface Listener {
  readonly local: string;
  readonly pids: readonly number[];
}

// iproute2 6.1: "LISTEN 0 4096 127.0.0.1:2019 0.0.0.0:* users:(("caddy",pid=812,fd=3))".
const TCP_LINE = /^LISTEN\s+\d+\s+\d+\s+(\S+)\s+\S+(?:\s+(users:.*))?$/;
// "u_str LISTEN 0 4096 /run/caddy/admin.sock 103224 * 0 users:((…))"; the path may hold spaces.
const UNIX_LINE = /^u_(?:str|seq)\s+LISTEN\s+\d+\s+\d+\s+(.*?)\s+\d+\s+\*\s+\d+(?:\s+(users:.*))?$/;

function listeners(output: string, line: RegExp): Listener[] {
  const found: Listener[] = [];
  for (const text of output.split("\n")) {
    const match = line.exec(text.trim());
    if (match === null) continue;
    const pids = [...(match[2] ?? "").matchAll(/\bpid=(\d+)\b/g)].map((m) => Number(m[1]));
    found.push({ local: match[1] ?? "", pids });
  }
  return found;
}

/** "127.0.0.1%lo:2019" → "127.0.0.1", "[::1]:2019" → "::1", "*:2019" → "*". */
function hostOf(local: string): string {
  const colon = local.lastIndexOf(":");
  const host = colon < 0 ? local : local.slice(0, colon);
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const percent = bare.indexOf("%");
  return percent < 0 ? bare : bare.slice(0, percent);
}

/** The addresses holt's requests to `address` may go to, and the wildcards that take them when none is bound. */
function targetsOf(address: string): { exact: string[]; wildcard: string[] } {
  const bare = address.startsWith("[") ? address.slice(1, -1) : address;
  if (bare.toLowerCase() === "localhost") {
    return { exact: ["127.0.0.1", "::1"], wildcard: ["0.0.0.0", "::", "*"] };
  }
  return bare.includes(":")
    ? { exact: [bare], wildcard: ["::", "*"] }
    : { exact: [bare], wildcard: ["0.0.0.0", "*"] };
}

/** The one process listening where holt's requests to `endpoint` arrive, or why there is none to trust. */
export function adminListener(
  ssOutput: string,
  endpoint: AdminEndpoint,
): { readonly pid: number } | { readonly why: string } {
  let there: Listener[];
  if (endpoint.socketPath !== undefined) {
    there = listeners(ssOutput, UNIX_LINE).filter((l) => l.local === endpoint.socketPath);
  } else {
    const all = listeners(ssOutput, TCP_LINE).filter((l) => l.local.endsWith(`:${endpoint.port}`));
    const { exact, wildcard } = targetsOf(endpoint.address);
    const bound = all.filter((l) => exact.includes(hostOf(l.local)));
    there = bound.length > 0 ? bound : all.filter((l) => wildcard.includes(hostOf(l.local)));
  }
  const pids = [...new Set(there.flatMap((l) => l.pids))].sort((a, b) => a - b);
  const [pid] = pids;
  if (pid === undefined) {
    return { why: "`ss -lpn` on the host showed no process listening on the admin address" };
  }
  if (pids.length > 1) {
    return {
      why: `${pids.length} processes listen on the admin address (pids ${pids.join(", ")}), and holt cannot tell which one is Caddy`,
    };
  }
  return { pid };
}

/** Real and effective ids from `/proc/<pid>/status` ("Uid:" and "Gid:" list real, effective, saved, file system). */
function effectiveIds(status: string): { uid: number; gid: number } | undefined {
  const uid = /^Uid:\s+\d+\s+(\d+)\b/m.exec(status)?.[1];
  const gid = /^Gid:\s+\d+\s+(\d+)\b/m.exec(status)?.[1];
  return uid === undefined || gid === undefined
    ? undefined
    : { uid: Number(uid), gid: Number(gid) };
}

/**
 * Who the process `pid` (the admin listener) runs as, from its
 * `/proc/<pid>/status`, and whether its group may read keys. Not the owner
 * of `/proc/<pid>`, which is root for a process started from a binary with
 * file capabilities, as Caddy's packages often install it.
 */
export function caddyUser(pid: number, status: string): CaddyUser {
  const ids = effectiveIds(status);
  if (ids === undefined) {
    return { kind: "unknown", why: `holt could not read the ids of process ${pid}` };
  }
  if (ids.uid === 0) return { kind: "root" };
  if (ids.uid > SYS_UID_MAX || ids.gid === NOBODY) {
    return {
      kind: "unknown",
      why: `the process listening on the admin address (pid ${pid}) runs as uid ${ids.uid}, gid ${ids.gid}: ${ids.uid > SYS_UID_MAX ? `not a system account (uid ${SYS_UID_MAX} or below), and any user can start a process of their own there` : "nobody's group, which unrelated programs share"}`,
    };
  }
  return { kind: "group", gid: ids.gid };
}
