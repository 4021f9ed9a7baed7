import { spawn } from "node:child_process";
import { HoltError } from "../errors.ts";
import type { Exec, ExecRequest } from "./exec.ts";
import { sendHttp } from "./http.ts";
import { DEFAULT_TIMEOUT_MS, type ExecOutcome } from "./run-checked.ts";

// After the program exits its pipes normally drain within milliseconds; if
// they do not, a background child inherited them and would hold us forever.
const DRAIN_GRACE_MS = 1000;

/** Runs programs on this machine, without a shell, so argv reaches them untouched. */
export function createLocalExec(): Exec {
  return {
    target: "local",
    run: runLocal,
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
    const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"] });
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
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (onOutput === undefined) stdout += chunk;
      else onOutput("stdout", chunk);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (onOutput === undefined) stderr += chunk;
      else onOutput("stderr", chunk);
    });
    // A program may exit without reading its input; that is its business.
    child.stdin.on("error", () => {});
    child.stdin.end(request.stdin ?? "");

    child.on("error", (error: NodeJS.ErrnoException) => {
      // Mirror what a shell reports, so callers handle local and remote alike.
      if (error.code === "ENOENT") {
        finish({
          stdout,
          stderr: `holt: ${program}: program not found\n`,
          code: 127,
          signal: null,
        });
      } else if (error.code === "EACCES") {
        finish({ stdout, stderr: `holt: ${program}: not executable\n`, code: 126, signal: null });
      } else if (child.pid === undefined) {
        const message = `Could not start ${program} locally: ${error.message}`;
        finish(new HoltError("HOLT_E_EXEC", message, { cause: error }));
      }
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
