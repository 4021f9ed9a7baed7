/** A `RunningProgram` over a child process of holt (a local program, or OpenSSH's client). */
import { Readable, Writable } from "node:stream";
import type { ExecResult, RunningProgram } from "./exec.ts";

/**
 * Its Node streams as `node`, and web streams over them made on first use:
 * Node's adapters start reading at once, which would take bytes away from a
 * caller using the Node streams. Writing to a program that has exited fails
 * with EPIPE; the adapter turns that into an error of the web stream, not an
 * uncaught exception.
 */
export function childProgram(
  child: { readonly stdin: Writable; readonly stdout: Readable },
  done: Promise<ExecResult>,
  kill: () => void,
): RunningProgram {
  let webIn: WritableStream<Uint8Array> | undefined;
  let webOut: ReadableStream<Uint8Array> | undefined;
  return {
    get stdin() {
      webIn ??= Writable.toWeb(child.stdin);
      return webIn;
    },
    get stdout() {
      webOut ??= Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>;
      return webOut;
    },
    node: { stdin: child.stdin, stdout: child.stdout },
    done,
    kill,
  };
}
