import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type { ClientChannel, ServerHostKeyAlgorithm, Client as SshClient } from "ssh2";
import { HoltError } from "../errors.ts";
import type {
  Exec,
  ExecRequest,
  HttpRequest,
  HttpResponse,
  HttpTarget,
  RunningProgram,
} from "./exec.ts";
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
import { hasOpenSsh, type OpenSshMaster, openMaster, startWithOpenSsh } from "./openssh-stream.ts";
import { lostError, markedCommand, takeMarker } from "./remote-command.ts";
import {
  DEFAULT_TIMEOUT_MS,
  type ExecOutcome,
  MAX_STDERR_BYTES,
  MAX_STDOUT_BYTES,
  outputLimitError,
  stderrTail,
} from "./run-checked.ts";
import { shellQuote } from "./shell-quote.ts";

type Ssh2 = typeof import("ssh2");
let ssh2: Promise<Ssh2> | undefined;
/**
 * ssh2 (about 80 ms of loading) is loaded by the first connection, not with
 * this module: a stream's OpenSSH connection (`prepareStart`) is spawned
 * before it, so its login overlaps the loading.
 */
function loadSsh2(): Promise<Ssh2> {
  ssh2 ??= import("ssh2").then((m) => (m as { default?: Ssh2 }).default ?? m);
  return ssh2;
}

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
  /**
   * What carries the bytes of `start()`: OpenSSH's client (several times
   * faster for bulk transfers), or the ssh2 connection itself.
   * @default "openssh" when `ssh` is installed, else "ssh2"
   */
  readonly streams?: "openssh" | "ssh2";
  /**
   * Where the folder of OpenSSH's control socket goes (control-folder.ts).
   * @default controlRoot(): `$XDG_RUNTIME_DIR/holt-ssh`, else `ssh/` in the default state directory
   */
  readonly controlRoot?: string;
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
// Output of a started program held for a slow reader before the channel is
// paused; ssh2 then stops widening the SSH window and the program blocks.
const OUTPUT_BUFFER_BYTES = 1024 * 1024;

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
  const overOpenSsh = (options.streams ?? (hasOpenSsh() ? "openssh" : "ssh2")) === "openssh";
  // OpenSSH's connection for streams: undefined until asked for ahead, null when none could be.
  let master: OpenSshMaster | null | undefined;

  function connection(): Promise<SshClient> {
    // A command still under way when close() ran (its caller gave up on a failure
    // elsewhere) must not log in again: that connection would keep holt running.
    if (closed) return Promise.reject(usedAfterClose(target));
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

  function checkUsable(method: string, argv: readonly string[]): void {
    if (argv.length === 0) {
      throw new HoltError("HOLT_E_INTERNAL", `Exec.${method} was given an empty argv.`);
    }
    if (closed) throw usedAfterClose(target);
  }

  /**
   * Calls `use` with a live connection. The connection may have died while
   * idle without us noticing yet: one retry on a fresh connection, only when
   * the channel could not be opened, so never for a command that started.
   */
  async function withLiveClient<T>(
    client: SshClient,
    use: (client: SshClient) => Promise<T>,
  ): Promise<T> {
    const live = dead.has(client) ? await connection() : client;
    try {
      return await use(live);
    } catch (error) {
      if (!(error instanceof ChannelOpenError) || !dead.has(live)) throw error;
      return await use(await connection());
    }
  }

  async function run(request: ExecRequest): Promise<ExecOutcome> {
    checkUsable("run", request.argv);
    // Connecting before queueing makes every waiting run share one attempt,
    // so an unreachable host fails them all at once, not one timeout each.
    const client = await connection();
    const release = await slots.acquire();
    try {
      return await withLiveClient(client, (live) => execOn(live, request, target, killGroup));
    } finally {
      release();
    }
  }

  async function start(request: { readonly argv: readonly string[] }): Promise<RunningProgram> {
    checkUsable("start", request.argv);
    const client = await connection();
    if (overOpenSsh) {
      const control = (await master?.ready) ?? undefined;
      // ssh2 stays the way to kill the remote process group.
      return startWithOpenSsh(
        where,
        request.argv,
        (pgid) => {
          void connection().then(
            (live) => killGroup(live, pgid),
            () => undefined,
          );
        },
        control,
      );
    }
    // The program holds its channel until it ends, not just until start returns.
    const release = await slots.acquire();
    try {
      return await withLiveClient(client, (live) =>
        startOn(live, request.argv, target, killGroup, release),
      );
    } catch (error) {
      release();
      throw error;
    }
  }

  async function http(request: HttpRequest): Promise<HttpResponse> {
    if (closed) throw usedAfterClose(target);
    const client = await connection();
    const release = await slots.acquire();
    try {
      return await sendHttp(target, request, (to) => forward(client, to));
    } finally {
      release();
    }
  }

  return {
    target,
    run,
    start,
    http,
    prepareStart() {
      if (closed) return;
      if (overOpenSsh && master === undefined) master = openMaster(where, options.controlRoot);
      // The commands a stream waits for (the replica's listing) log in meanwhile too; a failure
      // here is reported by the command that uses the connection.
      connection().catch(() => undefined);
    },
    async close() {
      closed = true;
      master?.close();
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
  const { Client, utils } = await loadSsh2();
  const privateKey = await readIdentity(where, utils);
  const knownHosts = await readKnownHosts(where);
  const types = knownKeyTypes(knownHosts, where.host, where.port);
  const algorithms = types.flatMap((type) => HOST_KEY_ALGORITHMS[type] ?? []);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let ready = false;
    let refused: HoltError | undefined;
    // Without TCP_NODELAY, Nagle's algorithm and the peer's delayed ACKs held every small
    // packet of the handshake and of each command for up to 40 ms: 300 ms to connect and
    // 100 ms per command here, against 110 ms and 15 ms with it.
    client.on("connect", () => client.setNoDelay(true));
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

async function readIdentity(where: Where, utils: Ssh2["utils"]): Promise<Buffer> {
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

/**
 * A channel to a port or Unix socket as seen from the remote host:
 * `direct-tcpip`, or OpenSSH's `direct-streamlocal@openssh.com` (sshd allows
 * it unless AllowStreamLocalForwarding or DisableForwarding says otherwise).
 */
function forward(client: SshClient, to: HttpTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | undefined, channel: ClientChannel) => {
      if (error) reject(error);
      else resolve(channel);
    };
    try {
      if (to.socketPath !== undefined) client.openssh_forwardOutStreamLocal(to.socketPath, done);
      else client.forwardOut("127.0.0.1", 0, to.address ?? "127.0.0.1", to.port, done);
    } catch (error) {
      // ssh2 throws synchronously when the socket is already gone.
      reject(error);
    }
  });
}

/**
 * Opens an exec channel for argv and hands it to `use` at once, before
 * ssh2 can emit the program's 'exit'. The shell first prints `<marker><pid>`
 * on stderr (the pid is the process group, as sshd calls setsid), then
 * exec's the program, so a kill can reach the program and its children.
 */
function openExec<T>(
  client: SshClient,
  argv: readonly string[],
  use: (channel: ClientChannel, marker: string) => T | Promise<T>,
): Promise<T> {
  const { marker, command } = markedCommand(argv);
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (error, channel) => {
        if (error) reject(new ChannelOpenError(error.message, { cause: error }));
        else resolve(use(channel, marker));
      });
    } catch (error) {
      // ssh2 throws synchronously when the socket is already gone.
      reject(new ChannelOpenError(String(error), { cause: error }));
    }
  });
}

function execOn(
  client: SshClient,
  request: ExecRequest,
  target: string,
  killGroup: (client: SshClient, pgid: number) => void,
): Promise<ExecOutcome> {
  return openExec(client, request.argv, (channel, marker) =>
    collect(channel, request, marker, target, (pgid) => killGroup(client, pgid)),
  );
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
    let overflow: "stdout" | "stderr" | undefined;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      if (overflow !== undefined) reject(outputLimitError(target, request.argv, overflow));
      else if (timedOut) resolve({ stdout, stderr, code: null, signal: "SIGKILL", timedOut });
      else if (exit !== undefined) resolve({ stdout, stderr, ...exit, timedOut });
      else reject(lostError(target, shellQuote(request.argv)));
    };
    const kept = { stdout: 0, stderr: 0 };
    // Past the cap the program's group is killed (at once, or when the marker names it) and
    // the run fails; output is no longer kept. run-checked.ts says why.
    const tooMuch = (stream: "stdout" | "stderr", chunk: string): boolean => {
      if (overflow !== undefined) return true;
      kept[stream] += Buffer.byteLength(chunk);
      if (kept[stream] <= (stream === "stdout" ? MAX_STDOUT_BYTES : MAX_STDERR_BYTES)) return false;
      overflow = stream;
      stdout = "";
      // The channel stays open (its output dropped) until the kill ends the program, so a
      // marker still on its way is read and the group killed.
      if (pgid !== undefined) kill(pgid);
      setTimeout(() => channel.close(), KILL_GRACE_MS).unref();
      done();
      return true;
    };
    const closedOne = () => {
      open -= 1;
      if (open === 0) done();
    };

    channel.setEncoding("utf8").on("data", (chunk: string) => {
      if (onOutput !== undefined) onOutput("stdout", chunk);
      else if (!tooMuch("stdout", chunk)) stdout += chunk;
    });
    channel.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (pgid !== undefined) {
        if (onOutput !== undefined) onOutput("stderr", chunk);
        else if (!tooMuch("stderr", chunk)) stderr += chunk;
        return;
      }
      stderr += chunk;
      const found = takeMarker(stderr, marker);
      if (found === undefined) return;
      pgid = found.pgid;
      stderr = found.rest;
      if (timedOut || overflow !== undefined) kill(pgid);
      if (onOutput === undefined && tooMuch("stderr", stderr)) stderr = "";
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

function startOn(
  client: SshClient,
  argv: readonly string[],
  target: string,
  killGroup: (client: SshClient, pgid: number) => void,
  release: () => void,
): Promise<RunningProgram> {
  return openExec(client, argv, (channel, marker) => {
    const program = trackProgram(channel, marker, (pgid) => killGroup(client, pgid));
    const command = shellQuote(argv);
    const lost = () => lostError(target, command);
    // After the exit nothing reads the input: fail writes, as a local pipe would (EPIPE).
    const inputGone = (): HoltError | undefined => {
      if (program.exit() !== undefined) return exitedError(target, command);
      return program.closed() || channel.writableEnded ? lost() : undefined;
    };
    const done = program.done.then(() => {
      const exit = program.exit();
      if (exit === undefined) throw lost();
      return { stdout: "", stderr: program.stderr(), ...exit };
    });
    done.then(release, release);
    return {
      stdin: inputStream(channel, inputGone),
      stdout: outputStream(
        channel,
        () => (program.exit() === undefined ? lost() : undefined),
        program.kill,
      ),
      done,
      kill: program.kill,
    };
  });
}

interface TrackedProgram {
  /** Settles when the channel and its stderr have both closed. */
  readonly done: Promise<void>;
  exit(): { code: number | null; signal: string | null } | undefined;
  /** stderr so far, without the marker line. */
  stderr(): string;
  /** True once ssh2 has closed the channel, even if stdout is still unread. */
  closed(): boolean;
  /** Kills the process group once; before the marker has arrived, as soon as it does. */
  kill(): void;
}

/** Follows a started program's exit, stderr and process group on its channel. */
function trackProgram(
  channel: ClientChannel,
  marker: string,
  killGroup: (pgid: number) => void,
): TrackedProgram {
  let stderr = "";
  let pgid: number | undefined;
  let exit: { code: number | null; signal: string | null } | undefined;
  let killWanted = false;
  let killSent = false;
  let closed = false;
  // Once the program has exited its pgid may belong to someone else.
  const kill = (): void => {
    killWanted = true;
    if (killSent || pgid === undefined || exit !== undefined || closed) return;
    killSent = true;
    killGroup(pgid);
  };
  channel.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    // Read whole until the marker (the shell's first words), then only its end is kept.
    stderr = pgid === undefined ? stderr + chunk : stderrTail(stderr, chunk);
    if (pgid !== undefined) return;
    const found = takeMarker(stderr, marker);
    if (found === undefined) return;
    stderr = found.rest;
    pgid = found.pgid;
    if (killWanted) kill();
  });
  channel.on("exit", (code: number | null, signal?: string) => {
    exit = { code: code ?? null, signal: signal ?? null };
  });
  // stderr is always read, so its 'close' comes as soon as ssh2 closes the
  // channel; the channel's own 'close' waits until stdout has been read.
  const stderrClosed = new Promise<void>((resolve) =>
    channel.stderr.once("close", () => {
      closed = true;
      resolve();
    }),
  );
  const channelClosed = new Promise<void>((resolve) => channel.once("close", () => resolve()));
  return {
    done: Promise.all([stderrClosed, channelClosed]).then(() => undefined),
    exit: () => exit,
    stderr: () => stderr,
    closed: () => closed,
    kill,
  };
}

/**
 * The channel's stdout as raw Buffers. Pausing the channel when the reader
 * falls behind makes ssh2 stop widening the SSH window, so the program
 * blocks on the host instead of holt buffering its output. The stream ends
 * when the channel closes: only then is it known whether the program exited
 * or the connection was lost (`failure`).
 */
function outputStream(
  channel: ClientChannel,
  failure: () => Error | undefined,
  kill: () => void,
): ReadableStream<Uint8Array> {
  let cancelled = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        channel.on("data", (chunk: Buffer) => {
          // Output nobody will read ends the program, as SIGPIPE does
          // locally, rather than keep crossing the network to be dropped.
          if (cancelled) return kill();
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) channel.pause();
        });
        channel.once("close", () => {
          if (cancelled) return;
          const error = failure();
          if (error === undefined) controller.close();
          else controller.error(error);
        });
      },
      pull() {
        channel.resume();
      },
      // Like closing the read end of a pipe: a program that writes nothing
      // more keeps running. Output is discarded so that the channel can close.
      cancel() {
        cancelled = true;
        channel.resume();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: OUTPUT_BUFFER_BYTES }),
  );
}

/**
 * The channel's stdin. A write waits for ssh2's 'drain' when the SSH window
 * is full, so a slow program slows the writer down; it fails (`gone`) once
 * the program has exited or the channel has closed.
 */
function inputStream(
  channel: ClientChannel,
  gone: () => Error | undefined,
): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write(chunk) {
      const error = gone();
      if (error !== undefined) throw error;
      if (channel.write(chunk)) return undefined;
      return new Promise<void>((resolve, reject) => {
        const settle = () => {
          channel.off("drain", settle).off("exit", settle);
          channel.stderr.off("close", settle);
          const error = gone();
          if (error === undefined) resolve();
          else reject(error);
        };
        channel.on("drain", settle).on("exit", settle);
        channel.stderr.on("close", settle);
      });
    },
    close() {
      channel.end();
    },
    // As a local pipe does when its writer goes away: the program sees end-of-file.
    abort() {
      channel.end();
    },
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

function usedAfterClose(target: string): HoltError {
  return new HoltError("HOLT_E_INTERNAL", `The SSH exec for ${target} was used after close().`);
}

function exitedError(target: string, command: string): HoltError {
  return new HoltError(
    "HOLT_E_EXEC",
    `The program on ${target} exited before reading all its input: ${command}. Its exit status and stderr tell why.`,
  );
}

function expandHome(path: string): string {
  if (path === "~") return homedir();
  return path.startsWith("~/") ? join(homedir(), path.slice(2)) : path;
}
