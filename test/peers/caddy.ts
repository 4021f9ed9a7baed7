/**
 * A real Caddy for tests, run the way holt expects a host to run it: admin
 * API on loopback, `--resume` so changes made through the API survive a
 * restart. Each instance gets free ports and its own XDG folders, so its local
 * CA and autosaved config never touch the machine's.
 *
 *   const caddy = await startCaddy();
 *   t.after(() => caddy.stop());
 *
 * Caddy is started under `setpriv --pdeathsig KILL`, so it dies with the test
 * process even when that is killed outright; an exit handler covers the rest.
 *
 * Options make it run as Debian's package runs it (as an unprivileged user),
 * with its admin API on a Unix socket, or inside another network namespace
 * (an sshd test host's), so a test can reach it only as holt does: over SSH.
 *
 * Test infrastructure: it runs Caddy and talks HTTP directly, not through holt's Exec.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chownSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePorts } from "./ports.ts";
import { findProgram, pidAlive } from "./process.ts";

export interface CaddyPeerOptions {
  /** Admin API port on 127.0.0.1. @default a free port */
  readonly adminPort?: number;
  /** @default a free port */
  readonly httpsPort?: number;
  /** @default a free port */
  readonly httpPort?: number;
  /** The admin API on a Unix socket in Caddy's folder instead of a TCP port. */
  readonly adminSocket?: boolean;
  /** Run Caddy as this user and group, its folder given to them. @default root */
  readonly user?: { readonly uid: number; readonly gid: number };
  /**
   * Run Caddy in this network namespace, reached from here at `address`. Needs
   * `adminSocket`: the namespace's loopback is not this machine's.
   */
  readonly netns?: { readonly name: string; readonly address: string };
}

export interface CaddyPeer {
  /** The admin API's TCP port; 0 when it is on a Unix socket. */
  readonly adminPort: number;
  /** For `proxy.admin` in a lab's config: "127.0.0.1:<port>", or "unix/<socket path>". */
  readonly adminAddress: string;
  /** The admin API's Unix socket, when it has one. */
  readonly adminSocket: string | undefined;
  /** Where this machine reaches Caddy's HTTPS and HTTP ports: 127.0.0.1, or the namespace's address. */
  readonly address: string;
  /** One request to the admin API, as any local process could send it. */
  admin(method: string, path: string, body?: string): Promise<{ status: number; body: string }>;
  /** The ports holt's routes should use; Caddy's config does not set them until holt does. */
  readonly httpsPort: number;
  readonly httpPort: number;
  /** The temporary folder holding XDG_DATA_HOME (`data/`), XDG_CONFIG_HOME (`config/`) and the log. */
  readonly dataDir: string;
  /** The local CA's root certificate; present once Caddy has issued a certificate. */
  readonly caCertPath: string;
  /** Caddy's log (stdout and stderr), for failing tests to print. */
  readonly logPath: string;
  /** Stops Caddy and starts it again with `--resume`; resolves once the admin API answers. */
  restart(): Promise<void>;
  /** Stops Caddy and deletes its folder. Safe to call more than once. */
  stop(): Promise<void>;
}

const TEMP_PREFIX = "holt-caddy-";
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;

interface Instance {
  dir: string;
  child: ChildProcess | undefined;
}
const live = new Set<Instance>();
let exitHooked = false;

/** Folders of test processes that died before cleaning up (their Caddy died with them). */
function removeStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const match = new RegExp(`^${TEMP_PREFIX}(\\d+)-`).exec(name);
    if (match === null || pidAlive(Number(match[1]))) continue;
    rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
  }
}

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
      // Dying of the signal would skip 'exit' handlers; exiting runs them.
      process.exit(128 + (signal === "SIGINT" ? 2 : 15));
    });
  }
}

type AdminTarget = { readonly port: number } | { readonly socketPath: string };

/** One request to a Caddy admin API; rejects when nothing answers. */
function adminRequest(
  target: AdminTarget,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        // Caddy's admin API on a Unix socket accepts only an empty Host header.
        ...("socketPath" in target
          ? { socketPath: target.socketPath, setHost: false, headers: { host: "" } }
          : { host: "127.0.0.1", port: target.port }),
        method,
        path,
        agent: false,
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    if (body !== undefined) req.setHeader("content-type", "application/json");
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.end(body);
  });
}

/** GET /config/ on the admin API: the status, or undefined when nothing answers. */
async function probe(target: AdminTarget): Promise<number | undefined> {
  try {
    return (await adminRequest(target, "GET", "/config/")).status;
  } catch {
    return undefined;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function startCaddy(options: CaddyPeerOptions = {}): Promise<CaddyPeer> {
  const caddy = findProgram("caddy", ["/usr/bin", "/usr/local/bin"]);
  if (caddy === undefined) {
    throw new Error("caddy is not installed: `apt-get install -y caddy` (2.6 or later).");
  }
  const setpriv = findProgram("setpriv", ["/usr/bin"]);
  if (options.netns !== undefined && options.adminSocket !== true) {
    throw new Error("A Caddy in another network namespace needs adminSocket: true.");
  }
  if (options.user !== undefined && setpriv === undefined) {
    throw new Error("Running Caddy as another user needs setpriv (util-linux).");
  }
  removeStaleDirs();
  hookExit();

  const [adminPort = 0, httpsPort = 0, httpPort = 0] =
    options.adminPort !== undefined &&
    options.httpsPort !== undefined &&
    options.httpPort !== undefined
      ? [options.adminPort, options.httpsPort, options.httpPort]
      : await freePorts(3).then(([a, b, c]) => [
          options.adminPort ?? a,
          options.httpsPort ?? b,
          options.httpPort ?? c,
        ]);

  const dir = mkdtempSync(path.join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const instance: Instance = { dir, child: undefined };
  live.add(instance);
  const dataHome = path.join(dir, "data");
  const configHome = path.join(dir, "config");
  mkdirSync(dataHome);
  mkdirSync(configHome);
  const configFile = path.join(dir, "initial.json");
  const socketPath = options.adminSocket === true ? path.join(dir, "admin.sock") : undefined;
  const adminAddress = socketPath === undefined ? `127.0.0.1:${adminPort}` : `unix/${socketPath}`;
  const target: AdminTarget = socketPath === undefined ? { port: adminPort } : { socketPath };
  writeFileSync(configFile, JSON.stringify({ admin: { listen: adminAddress } }));
  const logPath = path.join(dir, "caddy.log");
  const user = options.user;
  if (user !== undefined) {
    for (const file of [dir, dataHome, configHome, configFile]) chownSync(file, user.uid, user.gid);
  }

  const launch = async (): Promise<void> => {
    let argv = [caddy, "run", "--config", configFile, "--resume"];
    // The death signal last: a change of user clears it.
    if (user !== undefined && setpriv !== undefined) {
      const ids = ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups"];
      argv = [setpriv, ...ids, "--pdeathsig", "KILL", "--", ...argv];
    } else if (setpriv !== undefined) {
      argv = [setpriv, "--pdeathsig", "KILL", "--", ...argv];
    }
    // nsenter execs what follows in the namespace, so the death signal still reaches Caddy.
    if (options.netns !== undefined) {
      argv = ["nsenter", `--net=/run/netns/${options.netns.name}`, ...argv];
    }
    const [program = caddy, ...args] = argv;
    // Output goes to a file, never a pipe: a full pipe would block Caddy.
    const log = openSync(logPath, "a");
    const child = spawn(program, args, {
      stdio: ["ignore", log, log],
      env: { ...process.env, HOME: dir, XDG_DATA_HOME: dataHome, XDG_CONFIG_HOME: configHome },
    });
    closeSync(log);
    instance.child = child;
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exited) break;
      if ((await probe(target)) === 200) return;
      await sleep(50);
    }
    throw new Error(
      `Caddy did not ${exited ? "stay up" : `answer on ${adminAddress} within ${READY_TIMEOUT_MS} ms`}. Its log:\n${tail(logPath)}`,
    );
  };

  const halt = async (): Promise<void> => {
    const child = instance.child;
    instance.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  };

  const stop = async (): Promise<void> => {
    await halt();
    live.delete(instance);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await launch();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    adminPort: socketPath === undefined ? adminPort : 0,
    adminAddress,
    adminSocket: socketPath,
    address: options.netns?.address ?? "127.0.0.1",
    admin: (method, urlPath, body) => adminRequest(target, method, urlPath, body),
    httpsPort,
    httpPort,
    dataDir: dir,
    caCertPath: path.join(dataHome, "caddy", "pki", "authorities", "local", "root.crt"),
    logPath,
    async restart() {
      await halt();
      await launch();
    },
    stop,
  };
}

export interface HttpsAnswer {
  readonly code: number | null;
  readonly body: string;
  readonly stderr: string;
}

/**
 * GET https://<hostname>:<httpsPort><path> through this Caddy with curl: the name resolved
 * to 127.0.0.1, only one CA trusted (as a user would with `--cacert`): Caddy's local CA,
 * or `caFile` (an ACME CA's root, for routes with ACME certificates).
 */
export function curlThrough(
  caddy: CaddyPeer,
  hostname: string,
  urlPath = "/",
  caFile = caddy.caCertPath,
): HttpsAnswer {
  const r = spawnSync(
    "curl",
    [
      "-sS",
      "--max-time",
      "10",
      "--cacert",
      caFile,
      "--resolve",
      `${hostname}:${caddy.httpsPort}:${caddy.address}`,
      `https://${hostname}:${caddy.httpsPort}${urlPath}`,
    ],
    { encoding: "utf8" },
  );
  return { code: r.status, body: r.stdout, stderr: r.stderr };
}
