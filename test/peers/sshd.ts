/**
 * A real OpenSSH server on its own network namespace, so SSH tests talk to a
 * second "host" over a real network link without needing a VM. Needs root.
 */

import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pidAlive } from "./process.ts";

export interface SshHost {
  readonly address: string;
  readonly port: number;
  readonly user: "root";
  readonly identityFile: string;
  readonly knownHostsFile: string;
  readonly namespace: string;
  /** The host's `connect` for a holt.config.ts: `connect: { ssh: { user, port, identityFile, knownHostsFile } }`. */
  readonly connectConfig: string;
  stop(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";
const NAMESPACE_PREFIX = "holt-t-";
const TEMP_PREFIX = "holt-sshd-";
// 10.231.0.0/16 cut into /30s: one for each host, so 16384 of them.
const SUBNET_COUNT = 16384;
const READY_TIMEOUT_MS = 10_000;

const execFileAsync = promisify(execFile);
let counter = 0;
const live = new Set<Teardown>();

interface Teardown {
  namespace: string;
  dir: string;
  sshd: ChildProcess | undefined;
}

async function run(program: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(program, args, { encoding: "utf8" });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? "";
    throw new Error(`${program} ${args.join(" ")} failed: ${stderr || String(error)}`, {
      cause: error,
    });
  }
}

export interface SshHostOptions {
  /**
   * A folder put first on PATH for every session, so a test can stand a
   * wrapper in for a program on this "host" only (e.g. a `zfs` that damages
   * the next stream it receives).
   */
  readonly pathPrefix?: string;
  /** More environment for every session, e.g. `{ TZ: "Europe/Berlin" }` for a host in another zone. */
  readonly env?: Readonly<Record<string, string>>;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export async function startSshHost(options: SshHostOptions = {}): Promise<SshHost> {
  counter += 1;
  const namespace = `${NAMESPACE_PREFIX}${process.pid}-${counter}`;
  const dir = mkdtempSync(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const teardown: Teardown = { namespace, dir, sshd: undefined };
  live.add(teardown);
  registerExitCleanup();
  try {
    await run("ip", ["netns", "add", namespace]);
    const address = await claimSubnetAndLink(namespace);
    writeSshdFiles(dir, address, options);
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    // nsenter joins only the network namespace. `ip netns exec` would also give
    // sshd a private mount namespace, where zfs-fuse's mounts fail with EIO.
    const sshd = spawn(
      "nsenter",
      [`--net=/run/netns/${namespace}`, SSHD, "-D", "-e", "-f", join(dir, "sshd_config")],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    teardown.sshd = sshd;
    let log = "";
    sshd.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      log += chunk;
    });
    await waitForPort(address, 22, sshd, () => log);
    const identityFile = join(dir, "client_ed25519");
    const knownHostsFile = join(dir, "known_hosts");
    return {
      address,
      port: 22,
      user: "root",
      identityFile,
      knownHostsFile,
      namespace,
      connectConfig: `connect: { ssh: { user: "root", port: 22, identityFile: "${identityFile}", knownHostsFile: "${knownHostsFile}" } }`,
      stop: () => stop(teardown),
    };
  } catch (error) {
    await stop(teardown);
    throw error;
  }
}

/**
 * Picks a /30 no one else uses. The host-side veth is named after the subnet,
 * and link names are unique, so creating it is an atomic claim that parallel
 * test processes cannot both win.
 */
async function claimSubnetAndLink(namespace: string): Promise<string> {
  const start = (process.pid * 97 + counter * 13) % SUBNET_COUNT;
  const inUse = await run("ip", ["-4", "-o", "addr", "show"]);
  for (let attempt = 0; attempt < 64; attempt++) {
    const index = (start + attempt * 7) % SUBNET_COUNT;
    const base = index * 4;
    const prefix = `10.231.${base >> 8}.`;
    const hostAddress = `${prefix}${(base & 255) + 1}`;
    const peerAddress = `${prefix}${(base & 255) + 2}`;
    if (inUse.includes(` ${hostAddress}/`)) continue;
    const link = `hv${index}`;
    try {
      // Creating the peer directly inside the namespace means deleting the
      // namespace always takes the whole pair with it.
      await run("ip", [
        "link",
        "add",
        link,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        namespace,
      ]);
    } catch (error) {
      if (String(error).includes("File exists")) continue;
      throw error;
    }
    await run("ip", ["addr", "add", `${hostAddress}/30`, "dev", link]);
    await run("ip", ["link", "set", link, "up"]);
    // Not `ip netns exec` (nor `ip -n`): those also enter a new mount namespace for the
    // command, and while one exists zfs-fuse answers "dataset is busy" to a rename or
    // destroy anywhere on the machine, which failed parallel tests now and then.
    const inNs = [`--net=/run/netns/${namespace}`, "ip"];
    await run("nsenter", [...inNs, "addr", "add", `${peerAddress}/30`, "dev", "eth0"]);
    await run("nsenter", [...inNs, "link", "set", "eth0", "up"]);
    await run("nsenter", [...inNs, "link", "set", "lo", "up"]);
    return peerAddress;
  }
  throw new Error("No free /30 in 10.231.0.0/16 for an sshd test host after 64 tries.");
}

function writeSshdFiles(dir: string, address: string, options: SshHostOptions): void {
  const home = join(dir, "home");
  mkdirSync(home);
  const hostKey = join(dir, "host_ed25519");
  const clientKey = join(dir, "client_ed25519");
  for (const file of [hostKey, clientKey]) {
    execFileSync("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-C", "holt-test", "-f", file]);
  }
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${clientKey}.pub`));
  const [type, key] = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/);
  writeFileSync(join(dir, "known_hosts"), `${address} ${type} ${key}\n`);
  const sessionEnv = [
    `HOME=${home}`,
    ...(process.env.CONTAINERS_CONF === undefined
      ? []
      : [`CONTAINERS_CONF=${process.env.CONTAINERS_CONF}`]),
    ...(options.pathPrefix === undefined ? [] : [`PATH=${options.pathPrefix}:${DEFAULT_PATH}`]),
    ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
  const config = [
    "Port 22",
    `ListenAddress ${address}`,
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "StrictModes no",
    "MaxSessions 20",
    "LogLevel ERROR",
    // bash sources ~/.bashrc even for `ssh host cmd`; the test machine's root
    // dotfiles (pyenv init here) cost ~1 s per command and serialize sessions.
    // Podman over SSH must see the same settings as local Podman in tests (one SetEnv line:
    // sshd uses the first one it reads).
    `SetEnv ${sessionEnv.join(" ")}`,
  ];
  writeFileSync(join(dir, "sshd_config"), `${config.join("\n")}\n`);
}

async function waitForPort(
  address: string,
  port: number,
  sshd: ChildProcess,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (sshd.exitCode !== null || sshd.signalCode !== null) {
      throw new Error(`sshd exited before accepting connections: ${log().trim() || "no output"}`);
    }
    if (await canConnect(address, port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `sshd did not accept connections on ${address}:${port} within ${READY_TIMEOUT_MS} ms: ${log().trim() || "no output"}`,
  );
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 500 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

async function stop(teardown: Teardown): Promise<void> {
  if (!live.delete(teardown)) return;
  const { sshd } = teardown;
  if (sshd !== undefined && sshd.exitCode === null && sshd.signalCode === null) {
    const exited = new Promise((resolve) => sshd.once("exit", resolve));
    sshd.kill("SIGTERM");
    await exited;
  }
  removeNamespace(teardown.namespace);
  rmSync(teardown.dir, { recursive: true, force: true });
}

/**
 * Synchronous so it also works from process 'exit'. Per-connection sshd
 * processes outlive the listener and would keep the namespace (and its veth)
 * alive after `ip netns del`, so they are killed first, by pid.
 */
function removeNamespace(namespace: string): void {
  try {
    const pids = execFileSync("ip", ["netns", "pids", namespace], { encoding: "utf8" });
    for (const pid of pids.split(/\s+/).filter((p) => p !== "")) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    execFileSync("ip", ["netns", "del", namespace], { stdio: "ignore" });
  } catch {
    // The namespace was never created or is already gone.
  }
}

let exitCleanupRegistered = false;

function registerExitCleanup(): void {
  if (exitCleanupRegistered) return;
  exitCleanupRegistered = true;
  process.on("exit", () => {
    for (const teardown of live) {
      teardown.sshd?.kill("SIGKILL");
      removeNamespace(teardown.namespace);
      rmSync(teardown.dir, { recursive: true, force: true });
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

/** Removes namespaces and temp dirs left by test processes that died without cleaning up. */
export async function cleanupStaleSshHosts(): Promise<string[]> {
  const removed: string[] = [];
  const list = await run("ip", ["netns", "list"]);
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const match = /^holt-t-(\d+)-\d+$/.exec(name);
    if (match === null || pidAlive(Number(match[1]))) continue;
    removeNamespace(name);
    removed.push(name);
  }
  for (const entry of readdirSync(tmpdir())) {
    const match = /^holt-sshd-(\d+)-/.exec(entry);
    if (match === null || pidAlive(Number(match[1]))) continue;
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
  return removed;
}
