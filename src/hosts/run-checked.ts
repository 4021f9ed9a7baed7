import { HoltError } from "../errors.ts";
import type { Exec, ExecRequest, ExecResult } from "./exec.ts";
import { shellQuote } from "./shell-quote.ts";

export const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * The most output `Exec.run` keeps from one program. The largest holt reads
 * on a healthy host is a few tens of MB: `zfs get` of the properties it
 * needs is about 1.5 KB per dataset (15 MB for 10,000), one line of
 * `zfs get -r` per snapshot property is about 60 bytes (25 MB for 100,000
 * snapshots), `podman ps --format json` a few KB per container. Past the cap
 * the program is killed and the run fails: holding more would let one
 * runaway program take holt's memory.
 */
export const MAX_STDOUT_BYTES = 64 * 1024 * 1024;
/** stderr carries messages, not data; its end is what errors show. */
export const MAX_STDERR_BYTES = 8 * 1024 * 1024;

/**
 * stderr of a started program (`Exec.start`) with `chunk` added, kept to its
 * end: such a program runs as long as a transfer takes, and only the end of
 * its stderr says why it stopped. Past the cap the older half is dropped.
 */
export function stderrTail(stderr: string, chunk: string): string {
  const text = stderr + chunk;
  if (text.length <= MAX_STDERR_BYTES) return text;
  return `[… earlier output dropped …]\n${text.slice(-MAX_STDERR_BYTES / 2)}`;
}

/** The error for a program killed because it printed more than `Exec.run` keeps. */
export function outputLimitError(
  target: string,
  argv: readonly string[],
  stream: "stdout" | "stderr",
): HoltError {
  let command = shellQuote(argv);
  if (command.length > 200) command = `${command.slice(0, 200)}…`;
  const cap = stream === "stdout" ? MAX_STDOUT_BYTES : MAX_STDERR_BYTES;
  return new HoltError(
    "HOLT_E_EXEC",
    `A program on ${target} printed more than ${cap / 1024 / 1024} MiB on ${stream}, the most holt reads from one program, so holt killed it. Nothing holt runs prints that much on a healthy host: run it there by hand to see why. The command: ${command}`,
  );
}

/**
 * What the execs in this folder actually return. `timedOut` is extra because a
 * bare SIGKILL does not tell the user whether holt or something else killed it.
 */
export type ExecOutcome = ExecResult & { readonly timedOut?: boolean };

const MAX_DETAIL_LINES = 10;
const MAX_COMMAND_CHARS = 500;

/** Run a program and turn anything but exit code 0 into a HoltError the user can act on. */
export async function runChecked(exec: Exec, request: ExecRequest): Promise<ExecResult> {
  const result: ExecOutcome = await exec.run(request);
  if (result.code === 0) return result;
  let command = shellQuote(request.argv);
  if (command.length > MAX_COMMAND_CHARS) command = `${command.slice(0, MAX_COMMAND_CHARS)}…`;
  const why = explainExit(result, request.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  // The command goes last: it may contain any character, even a period.
  throw new HoltError("HOLT_E_EXEC", `Command on ${exec.target} ${why}: ${command}`, {
    details: lastLines(result.stderr, MAX_DETAIL_LINES),
  });
}

export function explainExit(result: ExecOutcome, timeoutMs: number): string {
  if (result.timedOut === true) {
    return `timed out after ${timeoutMs} ms and was killed with ${result.signal ?? "SIGKILL"}`;
  }
  if (result.signal !== null) return `was killed by ${result.signal}`;
  if (result.code === 127) return "exited with code 127 (command not found)";
  if (result.code === 126) return "exited with code 126 (not executable)";
  if (result.code === null) return "ended without an exit status";
  return `exited with code ${result.code}`;
}

// The end of stderr is where programs put the reason they gave up.
function lastLines(text: string, max: number): string[] {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "");
  return lines.slice(-max);
}

/**
 * Runs a program again while it fails with output matching `retryIf`, for up
 * to `budgetMs` (backing off from 100 ms to 1.6 s, running `between` before
 * each retry), and returns the last result. For answers that are known to
 * pass, such as zfs-fuse's "dataset is busy" right after an unmount.
 */
export async function runRetrying(
  exec: Exec,
  request: ExecRequest,
  options: { retryIf: RegExp; budgetMs: number; between?: readonly string[] },
): Promise<ExecResult> {
  const started = Date.now();
  for (let delay = 100; ; delay = Math.min(delay * 2, 1_600)) {
    const result = await exec.run(request);
    if (result.code === 0 || !options.retryIf.test(result.stderr)) return result;
    if (Date.now() - started > options.budgetMs) return result;
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (options.between !== undefined) await exec.run({ argv: options.between });
  }
}
