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
 * Test infrastructure: it runs Caddy and talks HTTP directly, not through holt's Exec.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
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
}

export interface CaddyPeer {
  readonly adminPort: number;
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

/** GET /config/ on the admin API: the status, or undefined when nothing answers. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/config/", agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      },
    );
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => {
      req.destroy();
      resolve(undefined);
    });
    req.end();
  });
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
  writeFileSync(configFile, JSON.stringify({ admin: { listen: `127.0.0.1:${adminPort}` } }));
  const logPath = path.join(dir, "caddy.log");

  const launch = async (): Promise<void> => {
    const argv = [caddy, "run", "--config", configFile, "--resume"];
    const [program = caddy, ...args] =
      setpriv === undefined ? argv : [setpriv, "--pdeathsig", "KILL", "--", ...argv];
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
      if ((await probe(adminPort)) === 200) return;
      await sleep(50);
    }
    throw new Error(
      `Caddy did not ${exited ? "stay up" : `answer on 127.0.0.1:${adminPort} within ${READY_TIMEOUT_MS} ms`}. Its log:\n${tail(logPath)}`,
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
    adminPort,
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
      `${hostname}:${caddy.httpsPort}:127.0.0.1`,
      `https://${hostname}:${caddy.httpsPort}${urlPath}`,
    ],
    { encoding: "utf8" },
  );
  return { code: r.status, body: r.stdout, stderr: r.stderr };
}
