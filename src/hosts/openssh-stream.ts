/**
 * `Exec.start` over OpenSSH's client, for bulk transfers. ssh2 (pure
 * JavaScript, fixed 32 KiB packets) moved 45–140 MB/s here where OpenSSH
 * moved 200–300 MB/s, and a replication's speed is the link's: so when the
 * `ssh` program is installed, a started program's bytes travel through it.
 * Everything else (runs, HTTP, killing) stays on holt's ssh2 connection.
 *
 * The same key, known_hosts file, port and user as the ssh2 connection;
 * `-F /dev/null` so the user's ssh config cannot change where it goes, and
 * StrictHostKeyChecking so an unknown or changed host key fails as it does
 * with ssh2.
 *
 * A caller that knows a stream is coming opens the connection ahead
 * (`openMaster`, OpenSSH's connection sharing): the stream then starts
 * without a handshake of its own, which costs about 250 ms here.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { HoltError } from "../errors.ts";
import { processIsRunning } from "../util/process-alive.ts";
import { childEnv } from "./child-env.ts";
import { childProgram } from "./child-program.ts";
import {
  CONTROL_SOCKET,
  controlRoot,
  createControlFolder,
  removeControlFolder,
  removeLeftBehind,
} from "./control-folder.ts";
import { dyingWithHolt } from "./die-with-holt.ts";
import type { ExecResult, RunningProgram } from "./exec.ts";
import { lostError, markedCommand, takeMarker } from "./remote-command.ts";
import { stderrTail } from "./run-checked.ts";
import { shellQuote } from "./shell-quote.ts";

export interface OpenSshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly identityFile: string;
  readonly knownHostsFile: string;
  readonly connectTimeoutMs: number;
  /** `user@host:port`, for messages. */
  readonly target: string;
}

let available: boolean | undefined;

/** Whether this machine has OpenSSH's client: an `ssh` on PATH (looked for once, without running it). */
export function hasOpenSsh(): boolean {
  if (available === undefined) {
    available = (process.env.PATH ?? "").split(delimiter).some((dir) => {
      if (dir === "") return false;
      try {
        accessSync(join(dir, "ssh"), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  }
  return available;
}

/** How often `openMaster` looks for its control socket while it logs in. */
const MASTER_POLL_MS = 10;

/** ssh's arguments for a command; `shared`: over the connection opened ahead (run in its folder). */
export function openSshArgs(to: OpenSshTarget, command: string, shared = false): string[] {
  const control = shared ? ["-S", CONTROL_SOCKET, "-o", "ControlMaster=no"] : [];
  return [...control, ...openSshOptions(to), to.host, command];
}

function openSshOptions(to: OpenSshTarget): string[] {
  return [
    "-F",
    "/dev/null",
    "-T",
    "-e",
    "none",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${to.knownHostsFile}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `ConnectTimeout=${Math.max(1, Math.ceil(to.connectTimeoutMs / 1000))}`,
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=3",
    "-i",
    to.identityFile,
    "-p",
    String(to.port),
    "-l",
    to.user,
  ];
}

/** An OpenSSH connection opened ahead of a stream, from `openMaster`. */
export interface OpenSshMaster {
  /**
   * The folder of its control socket once logged in, for `startWithOpenSsh`;
   * null when it could not connect (the stream then connects by itself and
   * reports why).
   */
  readonly ready: Promise<string | null>;
  /** Ends the connection (streams still running over it end too). */
  close(): void;
}

let swept = false;

/**
 * Logs in now (`ssh -M -N`, its socket in a private folder: control-folder.ts),
 * killed with holt. null where that cannot be done (no `ssh`, no `setpriv`,
 * no private folder).
 */
export function openMaster(to: OpenSshTarget, root: string = controlRoot()): OpenSshMaster | null {
  if (!hasOpenSsh()) return null;
  // Once per process: the folders of holt processes killed before close().
  if (!swept) {
    swept = true;
    removeLeftBehind(root, processIsRunning);
  }
  const argv = dyingWithHolt([
    "ssh",
    "-M",
    "-S",
    CONTROL_SOCKET,
    "-N",
    ...openSshOptions(to),
    to.host,
  ]);
  if (argv === null) return null;
  const dir = createControlFolder(root);
  if (dir === null) return null;
  const socket = join(dir, CONTROL_SOCKET);
  const child = spawn(argv[0], argv.slice(1), { stdio: "ignore", cwd: dir, env: childEnv() });
  // Never what keeps holt running; setpriv ends it with holt.
  child.unref();
  const ready = new Promise<string | null>((resolve) => {
    const deadline = Date.now() + to.connectTimeoutMs;
    const finish = (value: string | null) => {
      clearInterval(poll);
      resolve(value);
    };
    const poll = setInterval(() => {
      if (existsSync(socket)) finish(dir);
      else if (Date.now() > deadline) finish(null);
    }, MASTER_POLL_MS);
    child.once("exit", () => finish(null));
    child.once("error", () => finish(null));
  });
  return {
    ready,
    close() {
      child.kill("SIGTERM");
      removeControlFolder(dir);
    },
  };
}

/**
 * Whether ssh's exit 255 with no marker from the remote shell may still have
 * come after the program started. The marker is the shell's first output, but
 * a connection cut right after it can lose it on the way. Once logged in, ssh
 * says the connection was "closed by remote host" (or reports a broken
 * `client_loop`), and a shared connection's client says nothing; a failure to
 * connect or log in always says why, so only that is "could not start".
 */
export function mayHaveStarted(stderr: string): boolean {
  const said = stderr.trim();
  return said === "" || /closed by remote host|client_loop: /.test(said);
}

/**
 * Starts `argv` on the host through a local `ssh`. The remote shell prints its
 * process group first (as the ssh2 path does), so `kill()` can kill the whole
 * group through `killGroup`; the local client is killed too.
 */
export function startWithOpenSsh(
  to: OpenSshTarget,
  argv: readonly string[],
  killGroup: (pgid: number) => void,
  controlFolder?: string,
): Promise<RunningProgram> {
  const { marker, command } = markedCommand(argv);
  const child = spawn("ssh", openSshArgs(to, command, controlFolder !== undefined), {
    stdio: ["pipe", "pipe", "pipe"],
    env: childEnv(),
    ...(controlFolder === undefined ? {} : { cwd: controlFolder }),
  });
  let stderr = "";
  let pgid: number | undefined;
  let killWanted = false;
  let ended = false;
  const kill = (): void => {
    killWanted = true;
    if (pgid !== undefined && !ended) killGroup(pgid);
    child.kill("SIGKILL");
  };
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    // Read whole until the marker (the shell's first words), then only its end is kept.
    stderr = pgid === undefined ? stderr + chunk : stderrTail(stderr, chunk);
    if (pgid !== undefined) return;
    const found = takeMarker(stderr, marker);
    if (found === undefined) return;
    pgid = found.pgid;
    stderr = found.rest;
    if (killWanted) kill();
  });
  // The reader cancelled stdout: ssh then fails writing it, which is not a lost connection.
  const outputAbandoned = () => child.stdout.destroyed && !child.stdout.readableEnded;
  const done = new Promise<ExecResult>((resolve, reject) => {
    child.on("close", (code, signal) => {
      ended = true;
      if (pgid === undefined && code === 255 && !mayHaveStarted(stderr)) {
        reject(
          new HoltError(
            "HOLT_E_SSH",
            `Could not start ${shellQuote(argv)} on ${to.target} through OpenSSH: ${stderr.trim() || "ssh exited with 255"}.`,
          ),
        );
      } else if (code === 255 && !killWanted && !outputAbandoned()) {
        // ssh's own failure code: the connection went away under the program.
        reject(lostError(to.target, shellQuote(argv)));
      } else {
        resolve({ stdout: "", stderr, code, signal });
      }
    });
  });
  const running = childProgram(child, done, kill);
  return new Promise((resolve, reject) => {
    child.once("spawn", () => resolve(running));
    child.once("error", (error) => {
      if (child.pid === undefined) {
        reject(new HoltError("HOLT_E_EXEC", `Could not start ssh locally: ${error.message}`));
      }
    });
  });
}
