import { type ChildProcessByStdio, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { HoltError } from "../errors.ts";
import { childEnv } from "./child-env.ts";
import { childProgram } from "./child-program.ts";
import { canDieWithHolt, dyingWithHolt } from "./die-with-holt.ts";
import type { Exec, ExecRequest, ExecResult, RunningProgram, WiredProgram } from "./exec.ts";
import { sendHttp } from "./http.ts";
import {
  DEFAULT_TIMEOUT_MS,
  type ExecOutcome,
  MAX_STDERR_BYTES,
  MAX_STDOUT_BYTES,
  outputLimitError,
  stderrTail,
} from "./run-checked.ts";

// After the program exits its pipes normally drain within milliseconds; if
// they do not, a background child inherited them and would hold us forever.
const DRAIN_GRACE_MS = 1000;

/** Runs programs on this machine, without a shell, so argv reaches them untouched. */
export function createLocalExec(): Exec {
  return {
    target: "local",
    run: runLocal,
    start: startLocal,
    ...(canDieWithHolt ? { startWired } : {}),
    http: (request) => sendHttp("local", request, () => undefined),
    async close() {},
  };
}

function runLocal(request: ExecRequest): Promise<ExecOutcome> {
  const [program, ...args] = request.argv;
  if (program === undefined || program === "") {
    return Promise.reject(new HoltError("HOLT_E_INTERNAL", "Exec.run was given an empty argv."));
  }
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"], env: childEnv() });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let settled = false;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (outcome: ExecOutcome | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      child.stdout.destroy();
      child.stderr.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, timeoutMs)
        : undefined;

    const onOutput = request.onOutput;
    const kept = { stdout: 0, stderr: 0 };
    // Past the cap the program is killed and the run fails (run-checked.ts says why).
    const tooMuch = (stream: "stdout" | "stderr", chunk: string): boolean => {
      kept[stream] += Buffer.byteLength(chunk);
      if (kept[stream] <= (stream === "stdout" ? MAX_STDOUT_BYTES : MAX_STDERR_BYTES)) return false;
      child.kill("SIGKILL");
      finish(outputLimitError("local", request.argv, stream));
      return true;
    };
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (onOutput !== undefined) onOutput("stdout", chunk);
      else if (!tooMuch("stdout", chunk)) stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (onOutput !== undefined) onOutput("stderr", chunk);
      else if (!tooMuch("stderr", chunk)) stderr += chunk;
    });
    // A program may exit without reading its input; that is its business.
    child.stdin.on("error", () => {});
    child.stdin.end(request.stdin ?? "");

    child.on("error", (error: NodeJS.ErrnoException) => {
      const failure = spawnFailure(program, error);
      if (failure !== undefined) finish(failure);
      else if (child.pid === undefined) finish(startError(program, error));
    });
    child.on("exit", (code, signal) => {
      drainTimer = setTimeout(
        () => finish({ stdout, stderr, code, signal, timedOut }),
        DRAIN_GRACE_MS,
      );
    });
    child.on("close", (code, signal) => finish({ stdout, stderr, code, signal, timedOut }));
  });
}

/**
 * Starts a program whose stdin and stdout are byte streams. Node's own
 * adapters carry the bytes: they keep backpressure and, measured through
 * `cat`, run as fast as Node's plain pipes (the CPU copying through the
 * kernel is the limit, not the adapters).
 */
function startLocal(request: { readonly argv: readonly string[] }): Promise<RunningProgram> {
  const [program, ...args] = request.argv;
  if (program === undefined || program === "") {
    return Promise.reject(new HoltError("HOLT_E_INTERNAL", "Exec.start was given an empty argv."));
  }
  const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"], env: childEnv() });
  const running = childProgram(child, outcomeOf(child, program), () => {
    child.kill("SIGKILL");
  });
  return new Promise((resolve, reject) => {
    child.once("spawn", () => resolve(running));
    child.on("error", (error: NodeJS.ErrnoException) => {
      // A missing program is reported through `done`, as a shell would.
      if (spawnFailure(program, error) !== undefined) resolve(running);
      else if (child.pid === undefined) reject(startError(program, error));
    });
  });
}

/**
 * A program whose stdout is another program's stdin pipe (handed over, so
 * the kernel carries the bytes), under `setpriv --pdeathsig KILL`: if holt
 * is killed, the chain breaks as it would with holt relaying, instead of
 * running on unwatched.
 */
function startWired(request: {
  readonly argv: readonly string[];
  readonly stdout: Writable;
}): Promise<WiredProgram> {
  const program = request.argv[0];
  const wrapped = dyingWithHolt(request.argv);
  if (program === undefined || program === "" || wrapped === null) {
    return Promise.reject(new HoltError("HOLT_E_INTERNAL", "Exec.startWired cannot start that."));
  }
  const child = spawn(wrapped[0], wrapped.slice(1), {
    stdio: ["pipe", request.stdout, "pipe"],
    env: childEnv(),
  }) as unknown as PipedChild;
  child.stdin.on("error", () => {});
  const wired: WiredProgram = {
    pid: child.pid ?? 0,
    stdin: child.stdin,
    done: outcomeOf(child, program),
    written: () => writtenBy(child.pid),
    kill: () => {
      child.kill("SIGKILL");
    },
  };
  return new Promise((resolve, reject) => {
    child.once("spawn", () => resolve({ ...wired, pid: child.pid ?? 0 }));
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) reject(startError(program, error));
    });
  });
}

/** `wchar` of `/proc/<pid>/io`: bytes the process has written; 0 when unknown or gone. */
function writtenBy(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /^wchar:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

type PipedChild = ChildProcessByStdio<Writable, Readable, Readable>;

/**
 * The exit of a started program, with its stderr. No drain grace as in
 * `run`: stdout is still being read when the program exits, and cutting it
 * short would lose the end of the transfer.
 */
function outcomeOf(child: PipedChild, program: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = stderrTail(stderr, chunk);
    });
    // 'error' comes before 'close' when the program could not be started.
    child.on("error", (error: NodeJS.ErrnoException) => {
      const failure = spawnFailure(program, error);
      if (failure !== undefined) resolve(failure);
    });
    child.on("close", (code, signal) => resolve({ stdout: "", stderr, code, signal }));
  });
}

/** Mirrors what a shell reports when it cannot run a program, so callers handle local and remote alike. */
function spawnFailure(program: string, error: NodeJS.ErrnoException): ExecResult | undefined {
  if (error.code === "ENOENT") {
    return { stdout: "", stderr: `holt: ${program}: program not found\n`, code: 127, signal: null };
  }
  if (error.code === "EACCES") {
    return { stdout: "", stderr: `holt: ${program}: not executable\n`, code: 126, signal: null };
  }
  return undefined;
}

function startError(program: string, error: Error): HoltError {
  const message = `Could not start ${program} locally: ${error.message}`;
  return new HoltError("HOLT_E_EXEC", message, { cause: error });
}
