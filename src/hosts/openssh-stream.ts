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
 */
import { spawn, spawnSync } from "node:child_process";
import { HoltError } from "../errors.ts";
import { childProgram } from "./child-program.ts";
import type { ExecResult, RunningProgram } from "./exec.ts";
import { lostError, markedCommand, takeMarker } from "./remote-command.ts";
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

/** Whether this machine has OpenSSH's client (checked once). */
export function hasOpenSsh(): boolean {
  if (available === undefined) {
    const r = spawnSync("ssh", ["-V"], { stdio: "ignore" });
    available = r.error === undefined && r.status === 0;
  }
  return available;
}

export function openSshArgs(to: OpenSshTarget, command: string): string[] {
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
    to.host,
    command,
  ];
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
): Promise<RunningProgram> {
  const { marker, command } = markedCommand(argv);
  const child = spawn("ssh", openSshArgs(to, command), { stdio: ["pipe", "pipe", "pipe"] });
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
    stderr += chunk;
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
      // 255 before the remote shell ran: ssh could not connect or log in.
      if (pgid === undefined && code === 255) {
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
