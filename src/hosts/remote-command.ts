/**
 * How holt starts a program on a host over SSH, whichever client carries it:
 * the shell prints its process group (= its pid, as sshd calls setsid) on
 * stderr behind a random marker, then execs the program, so a timeout or a
 * kill can end the program and its children.
 */
import { randomBytes } from "node:crypto";
import { HoltError } from "../errors.ts";
import { shellQuote } from "./shell-quote.ts";

export function markedCommand(argv: readonly string[]): { marker: string; command: string } {
  const marker = `holt-pgid-${randomBytes(6).toString("hex")}:`;
  return { marker, command: `echo ${marker}$$ >&2; exec ${shellQuote(argv)}` };
}

/**
 * Finds the `<marker><pgid>` line the shell printed on stderr. Login-shell
 * rc files may write to stderr first, so it searches rather than peeks.
 * Undefined until the whole line has arrived.
 */
export function takeMarker(
  stderr: string,
  marker: string,
): { pgid: number; rest: string } | undefined {
  const at = stderr.indexOf(marker);
  const end = stderr.indexOf("\n", at);
  if (at === -1 || end === -1) return undefined;
  const pgid = Number(stderr.slice(at + marker.length, end));
  return { pgid, rest: stderr.slice(0, at) + stderr.slice(end + 1) };
}

export function lostError(target: string, command: string): HoltError {
  return new HoltError(
    "HOLT_E_SSH",
    `The SSH connection to ${target} was lost while running: ${command}. The command may or may not have finished; check the host before retrying.`,
  );
}
