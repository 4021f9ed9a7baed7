/**
 * Opens one Exec per host of the lab, on first use, and closes them all.
 * SSH support is loaded only when a host needs it, which keeps local runs
 * (and `holt --version`) fast.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { ResolvedConnect } from "../config/types.ts";
import type { Exec } from "./exec.ts";
import { createLocalExec } from "./local-exec.ts";

export interface HostEndpoint {
  readonly name: string;
  readonly address: string;
  readonly connect: ResolvedConnect;
}

export interface Connections {
  execFor(host: string): Promise<Exec>;
  closeAll(): Promise<void>;
}

function expandHome(path: string): string {
  return path === "~" ? homedir() : path.startsWith("~/") ? join(homedir(), path.slice(2)) : path;
}

export interface ConnectionsOptions {
  /** Where OpenSSH's control sockets go (see `SshExecOptions.controlRoot`). */
  readonly controlRoot?: string;
}

export function createConnections(
  hosts: readonly HostEndpoint[],
  options: ConnectionsOptions = {},
): Connections {
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const open = new Map<string, Promise<Exec>>();
  return {
    execFor(host) {
      let exec = open.get(host);
      if (exec === undefined) {
        const endpoint = byName.get(host);
        if (endpoint === undefined) return Promise.reject(new Error(`unknown host "${host}"`));
        exec = openExec(endpoint, options);
        open.set(host, exec);
      }
      return exec;
    },
    async closeAll() {
      const all = [...open.values()];
      open.clear();
      await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close()));
    },
  };
}

async function openExec(endpoint: HostEndpoint, options: ConnectionsOptions): Promise<Exec> {
  const connect = endpoint.connect;
  if (connect.kind === "local") return createLocalExec();
  const { createSshExec } = await import("./ssh-exec.ts");
  return createSshExec({
    host: endpoint.address,
    port: connect.port,
    user: connect.user,
    identityFile: expandHome(connect.identityFile),
    knownHostsFile: expandHome(connect.knownHostsFile),
    ...(options.controlRoot === undefined ? {} : { controlRoot: options.controlRoot }),
  });
}
