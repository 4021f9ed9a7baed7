import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type { ClientChannel, ServerHostKeyAlgorithm, Client as SshClient } from "ssh2";
import ssh2 from "ssh2";
import { HoltError } from "../errors.ts";
import type { Exec, ExecRequest, HttpRequest, HttpResponse } from "./exec.ts";
import { sendHttp } from "./http.ts";
import {
  checkHostKey,
  fingerprint,
  type HostKeyVerdict,
  type KnownHostEntry,
  keyBlobType,
  knownKeyTypes,
  parseKnownHosts,
} from "./known-hosts.ts";
import { DEFAULT_TIMEOUT_MS, type ExecOutcome } from "./run-checked.ts";
import { shellQuote } from "./shell-quote.ts";

const { Client, utils } = ssh2;

export interface SshExecOptions {
  readonly host: string;
  /** @default 22 */
  readonly port?: number;
  /** @default "root" */
  readonly user?: string;
  /** Unencrypted private key. @default "~/.ssh/id_ed25519" */
  readonly identityFile?: string;
  /** @default "~/.ssh/known_hosts" */
  readonly knownHostsFile?: string;
  /** Limit for TCP connect plus SSH handshake and login. @default 20000 */
  readonly connectTimeoutMs?: number;
}

// sshd refuses sessions beyond MaxSessions (10 by default) per connection.
// Eight for programs plus two for killing timed-out ones stays within it.
const MAX_CHANNELS = 8;
const MAX_KILL_CHANNELS = 2;
const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
// Without keepalives a host that vanishes (power cut) leaves a half-open
// connection that only fails when the next command hangs.
const KEEPALIVE_INTERVAL_MS = 15_000;
// After a timeout, how long to wait for the kill to take effect before
// abandoning the channel.
const KILL_GRACE_MS = 5000;

// Asking only for algorithms of keys we hold lets a server with several host
// keys present the one known_hosts can vouch for, as OpenSSH's client does.
const HOST_KEY_ALGORITHMS: Readonly<Record<string, readonly ServerHostKeyAlgorithm[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/** Runs programs on a remote host over one reused SSH connection. */
export function createSshExec(options: SshExecOptions): Exec {
  const host = options.host;
  const port = options.port ?? 22;
  const user = options.user ?? "root";
  const identityFile = expandHome(options.identityFile ?? "~/.ssh/id_ed25519");
  const knownHostsFile = expandHome(options.knownHostsFile ?? "~/.ssh/known_hosts");
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const target = `${user}@${host}:${port}`;
  const where = { host, port, user, target, identityFile, knownHostsFile, connectTimeoutMs };
  const slots = createLimiter(MAX_CHANNELS);
  const killSlots = createLimiter(MAX_KILL_CHANNELS);
  const killGroup = (client: SshClient, pgid: number): void => {
    void killSlots.acquire().then((release) => fireAndForget(client, `kill -9 -${pgid}`, release));
  };
  const dead = new WeakSet<SshClient>();
  let pending: Promise<SshClient> | undefined;
  let closed = false;

  function connection(): Promise<SshClient> {
    if (pending === undefined) {
      const attempt: Promise<SshClient> = connect(where, (client) => {
        dead.add(client);
        if (pending === attempt) pending = undefined;
      });
      pending = attempt;
      attempt.catch(() => {
        if (pending === attempt) pending = undefined;
      });
    }
    return pending;
  }

  async function run(request: ExecRequest): Promise<ExecOutcome> {
    if (request.argv.length === 0) {
      throw new HoltError("HOLT_E_INTERNAL", "Exec.run was given an empty argv.");
    }
    if (closed)
      throw new HoltError("HOLT_E_INTERNAL", `The SSH exec for ${target} was used after close().`);
    // Connecting before queueing makes every waiting run share one attempt,
    // so an unreachable host fails them all at once, not one timeout each.
    let client = await connection();
    const release = await slots.acquire();
    try {
      if (dead.has(client)) client = await connection();
      try {
        return await execOn(client, request, target, killGroup);
      } catch (error) {
        // The connection may have died while idle without us noticing yet:
        // one retry on a fresh connection, never for a command that started.
        if (!(error instanceof ChannelOpenError) || !dead.has(client)) throw error;
        return await execOn(await connection(), request, target, killGroup);
      }
    } finally {
      release();
    }
  }

  async function http(request: HttpRequest): Promise<HttpResponse> {
    if (closed)
      throw new HoltError("HOLT_E_INTERNAL", `The SSH exec for ${target} was used after close().`);
    const client = await connection();
    const release = await slots.acquire();
    try {
      return await sendHttp(target, request, (address, port) => forward(client, address, port));
    } finally {
      release();
    }
  }

  return {
    target,
    run,
    http,
    async close() {
      closed = true;
      const current = pending;
      pending = undefined;
      const client = await current?.catch(() => undefined);
      client?.end();
    },
  };
}

interface Where {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly target: string;
  readonly identityFile: string;
  readonly knownHostsFile: string;
  readonly connectTimeoutMs: number;
}

async function connect(where: Where, onGone: (client: SshClient) => void): Promise<SshClient> {
  const privateKey = await readIdentity(where);
  const knownHosts = await readKnownHosts(where);
  const types = knownKeyTypes(knownHosts, where.host, where.port);
  const algorithms = types.flatMap((type) => HOST_KEY_ALGORITHMS[type] ?? []);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let ready = false;
    let refused: HoltError | undefined;
    client.on("ready", () => {
      ready = true;
      resolve(client);
    });
    // Errors after login also end in 'close', which is where runs learn of them.
    client.on("error", (error) => {
      if (!ready) reject(refused ?? sshError(where, error));
    });
    client.on("close", () => {
      onGone(client);
      if (!ready) reject(refused ?? sshError(where, new Error("connection closed during login")));
    });
    client.connect({
      host: where.host,
      port: where.port,
      username: where.user,
      privateKey,
      readyTimeout: where.connectTimeoutMs,
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      ...(algorithms.length > 0 ? { algorithms: { serverHostKey: algorithms } } : {}),
      hostVerifier: (key: Buffer): boolean => {
        const verdict = checkHostKey(knownHosts, where.host, where.port, key);
        if (verdict.kind === "match") return true;
        refused = hostKeyError(where, verdict, key);
        return false;
      },
    });
  });
}

async function readIdentity(where: Where): Promise<Buffer> {
  let key: Buffer;
  try {
    key = await readFile(where.identityFile);
  } catch (error) {
    throw identityError(where, error);
  }
  // ssh2 would only throw from connect(); checking first names the file.
  const parsed = utils.parseKey(key);
  if (parsed instanceof Error) throw identityError(where, parsed);
  return key;
}

async function readKnownHosts(where: Where): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(where.knownHostsFile, "utf8"));
  } catch (error) {
    // A missing file just means no host is known yet; the host-key error explains.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw knownHostsError(where, error);
  }
}

class ChannelOpenError extends Error {}

/** A `direct-tcpip` channel to address:port as seen from the remote host. */
function forward(client: SshClient, address: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut("127.0.0.1", 0, address, port, (error, channel) => {
      if (error) reject(error);
      else resolve(channel);
    });
  });
}

function execOn(
  client: SshClient,
  request: ExecRequest,
  target: string,
  killGroup: (client: SshClient, pgid: number) => void,
): Promise<ExecOutcome> {
  // The shell reports its pid (= process group, as sshd calls setsid) before
  // exec'ing the program, so a timeout can kill the program and its children.
  const marker = `holt-pgid-${randomBytes(6).toString("hex")}:`;
  const command = `echo ${marker}$$ >&2; exec ${shellQuote(request.argv)}`;
  return new Promise((resolve, reject) => {
    const opened = (error: Error | undefined, channel: ClientChannel) => {
      if (error) reject(new ChannelOpenError(error.message, { cause: error }));
      else
        collect(channel, request, marker, target, (pgid) => killGroup(client, pgid)).then(
          resolve,
          reject,
        );
    };
    try {
      client.exec(command, opened);
    } catch (error) {
      // ssh2 throws synchronously when the socket is already gone.
      reject(new ChannelOpenError(String(error), { cause: error }));
    }
  });
}

function collect(
  channel: ClientChannel,
  request: ExecRequest,
  marker: string,
  target: string,
  kill: (pgid: number) => void,
): Promise<ExecOutcome> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let pgid: number | undefined;
    let exit: { code: number | null; signal: string | null } | undefined;
    let timedOut = false;
    let open = 2; // the channel itself and its stderr stream
    let graceTimer: NodeJS.Timeout | undefined;
    const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            // Closing the channel alone would leave the program running on the host.
            if (pgid !== undefined) kill(pgid);
            graceTimer = setTimeout(() => {
              channel.close();
              done();
            }, KILL_GRACE_MS);
          }, timeoutMs)
        : undefined;
    const onOutput = request.onOutput;

    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      if (timedOut) resolve({ stdout, stderr, code: null, signal: "SIGKILL", timedOut });
      else if (exit !== undefined) resolve({ stdout, stderr, ...exit, timedOut });
      else reject(lostError(target, shellQuote(request.argv)));
    };
    const closedOne = () => {
      open -= 1;
      if (open === 0) done();
    };

    channel.setEncoding("utf8").on("data", (chunk: string) => {
      if (onOutput === undefined) stdout += chunk;
      else onOutput("stdout", chunk);
    });
    channel.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (pgid !== undefined && onOutput !== undefined) {
        onOutput("stderr", chunk);
        return;
      }
      stderr += chunk;
      if (pgid !== undefined) return;
      // Login-shell rc files may write to stderr first, so search, not just peek.
      const at = stderr.indexOf(marker);
      const end = stderr.indexOf("\n", at);
      if (at === -1 || end === -1) return;
      pgid = Number(stderr.slice(at + marker.length, end));
      stderr = stderr.slice(0, at) + stderr.slice(end + 1);
      if (timedOut) kill(pgid);
      if (onOutput !== undefined && stderr !== "") {
        onOutput("stderr", stderr);
        stderr = "";
      }
    });
    channel.on("exit", (code: number | null, signal?: string) => {
      exit = { code: code ?? null, signal: signal ?? null };
    });
    // stderr may still be delivering its last chunks when the channel closes.
    channel.once("close", closedOne);
    channel.stderr.once("close", closedOne);
    channel.end(request.stdin ?? "");
  });
}

/** Runs a command for its effect only, on its own channel. */
function fireAndForget(client: SshClient, command: string, done: () => void): void {
  try {
    client.exec(command, (error, channel) => {
      if (error) return done();
      channel.resume();
      channel.stderr.resume();
      channel.once("close", done);
      channel.end();
    });
  } catch {
    done();
  }
}

interface Limiter {
  acquire(): Promise<() => void>;
}

function createLimiter(max: number): Limiter {
  let active = 0;
  const waiting: Array<() => void> = [];
  return {
    async acquire() {
      if (active < max) active += 1;
      // A released slot is handed straight to the next waiter, never freed in between.
      else await new Promise<void>((resolve) => waiting.push(resolve));
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const next = waiting.shift();
        if (next === undefined) active -= 1;
        else next();
      };
    },
  };
}

function sshError(where: Where, error: Error & { level?: string; code?: string }): HoltError {
  const { target, host, port } = where;
  let cause: string;
  let hint: string;
  if (error.level === "client-authentication") {
    cause = `the server did not accept the key ${where.identityFile}`;
    hint = `Add ${where.identityFile}.pub to ~${where.user}/.ssh/authorized_keys on the host, for example with: ssh-copy-id -i ${where.identityFile}.pub -p ${port} ${where.user}@${host}`;
  } else if (error.level === "client-timeout" || error.code === "ETIMEDOUT") {
    cause = `no answer within ${where.connectTimeoutMs} ms`;
    hint = `Check that the host is up and that port ${port} is reachable from here (address, firewall).`;
  } else if (error.code === "ECONNREFUSED") {
    cause = "connection refused";
    hint = `Check that sshd is running on ${host} and listening on port ${port}.`;
  } else if (error.code === "EHOSTUNREACH" || error.code === "ENETUNREACH") {
    cause = "no route to the host";
    hint = "Check the address and this machine's network.";
  } else if (error.code === "ENOTFOUND" || error.code === "EAI_AGAIN") {
    cause = `the name ${host} could not be resolved`;
    hint = "Check the host name, or use an IP address.";
  } else {
    cause = error.message;
    hint = "Try `ssh -v` with the same user, host and port to see more.";
  }
  return new HoltError("HOLT_E_SSH", `Could not connect to ${target}: ${cause}. ${hint}`, {
    cause: error,
  });
}

function identityError(where: Where, error: unknown): HoltError {
  const file = where.identityFile;
  const code = (error as NodeJS.ErrnoException).code;
  let reason: string;
  if (code === "ENOENT")
    reason = `does not exist. Create one with: ssh-keygen -t ed25519 -f ${file}`;
  else if (code === "EACCES") reason = "cannot be read by this user";
  else if (code !== undefined) reason = `cannot be read: ${(error as Error).message}`;
  // ssh2 cannot ask for a passphrase, so an encrypted key fails to parse.
  else reason = `is not a usable unencrypted private key (${(error as Error).message})`;
  const message = `The SSH identity file ${file} for ${where.target} ${reason}.`;
  return new HoltError("HOLT_E_SSH", message, { cause: error });
}

function knownHostsError(where: Where, error: unknown): HoltError {
  const message = `The known_hosts file ${where.knownHostsFile} cannot be read, so the key of ${where.target} cannot be checked: ${(error as Error).message}`;
  return new HoltError("HOLT_E_SSH_HOSTKEY", message, { cause: error });
}

function hostKeyError(
  where: Where,
  verdict: Exclude<HostKeyVerdict, { kind: "match" }>,
  key: Buffer,
): HoltError {
  const { host, port, knownHostsFile: file } = where;
  const type = keyBlobType(key) ?? "unknown-type";
  const offered = `${type} ${fingerprint(key)}`;
  const keyFile = `/etc/ssh/ssh_host_${type.replace(/^ssh-|-.*$/g, "").replace("dss", "dsa")}_key.pub`;
  const check = `check that fingerprint on the host itself (ssh-keygen -lf ${keyFile})`;
  const scan = `ssh-keyscan -p ${port} ${host} >> ${file}`;
  const name = port === 22 ? host : `[${host}]:${port}`;
  let message: string;
  if (verdict.kind === "unknown") {
    message = `The SSH host key of ${host}:${port} is not in ${file}, so holt cannot tell it is talking to the right machine. The host offered ${offered}. To trust it, ${check}, then run: ${scan}`;
  } else if (verdict.kind === "revoked") {
    message = `The SSH host key ${offered} offered by ${host}:${port} is marked @revoked in ${file} (line ${verdict.entry.line}). Replace the host's key; do not remove the @revoked line.`;
  } else {
    const expected = verdict.expected
      .map((e) => `${e.keyType} ${fingerprint(e.key)} (line ${e.line})`)
      .join(", ");
    message = `The SSH host key of ${host}:${port} does not match ${file}: expected ${expected}, but the host offered ${offered}. Either the host was reinstalled or someone is intercepting the connection. If the change is expected, ${check}, then run: ssh-keygen -R '${name}' -f ${file} && ${scan}`;
  }
  return new HoltError("HOLT_E_SSH_HOSTKEY", message);
}

function lostError(target: string, command: string): HoltError {
  return new HoltError(
    "HOLT_E_SSH",
    `The SSH connection to ${target} was lost while running: ${command}. The command may or may not have finished; check the host before retrying.`,
  );
}

function expandHome(path: string): string {
  if (path === "~") return homedir();
  return path.startsWith("~/") ? join(homedir(), path.slice(2)) : path;
}
