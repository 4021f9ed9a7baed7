/**
 * How holt runs a program on a host. Providers receive an `Exec` and never
 * touch `child_process` or SSH themselves, so the same provider code runs
 * locally, over SSH, and against a recorded fake in tests.
 */
import type { Readable, Writable } from "node:stream";

/** One program invocation. `argv[0]` is the program; no shell is involved locally. */
export interface ExecRequest {
  readonly argv: readonly string[];
  /** Bytes written to the program's standard input, then closed. */
  readonly stdin?: string;
  /** Give up after this many milliseconds; 0 waits for ever. @default 120000 */
  readonly timeoutMs?: number;
  /**
   * Receives output as it arrives (e.g. `podman logs -f`). When set, the
   * output is not also collected: the result's stdout and stderr are empty.
   */
  readonly onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; `null` when the program was killed by a signal. */
  readonly code: number | null;
  readonly signal: string | null;
}

/**
 * Where an HTTP request goes on the host: a TCP port on its loopback, or a
 * Unix socket (Caddy's admin API may listen on one). Over SSH it travels
 * through the connection (a `direct-tcpip` or `direct-streamlocal` channel),
 * so nothing needs to listen beyond the host itself.
 */
export type HttpTarget =
  | {
      /** TCP port on the host. */
      readonly port: number;
      /** Address on the host. @default "127.0.0.1" */
      readonly address?: string;
      readonly socketPath?: undefined;
    }
  | {
      /**
       * Path of a Unix socket on the host. The request carries an empty Host
       * header, as HTTP/1.1 asks when the target has no host name.
       */
      readonly socketPath: string;
      readonly port?: undefined;
      readonly address?: undefined;
    };

/** An HTTP request to the host itself (an admin API, a service's health endpoint). */
export type HttpRequest = HttpTarget & {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path and query, e.g. "/config/apps/http". */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Give up after this many milliseconds. @default 10000 */
  readonly timeoutMs?: number;
};

export interface HttpResponse {
  readonly status: number;
  /** Header names in lower case; trailers (headers sent after the body) included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A program started with `Exec.start`, its input and output as byte streams. */
export interface RunningProgram {
  /**
   * The program's standard input; closing it sends end-of-file. Aborting it
   * also only sends end-of-file: to abandon the program, `kill()` it.
   */
  readonly stdin: WritableStream<Uint8Array>;
  /**
   * The program's standard output, with backpressure: unread output pauses
   * the program, so read it to the end (or pipe it away) even when nothing is
   * expected, or `done` may never settle.
   */
  readonly stdout: ReadableStream<Uint8Array>;
  /**
   * Resolves when the program has exited and its output is closed, with its
   * standard error as text (stdout is the stream, so the result's is empty).
   * Rejects only when the connection to the host is lost.
   */
  readonly done: Promise<ExecResult>;
  /** Kills the program (and, over SSH, its process group). Safe to call more than once. */
  kill(): void;
  /**
   * The same input and output as Node streams, when the program runs as a
   * child process of holt (locally, or through OpenSSH's client). For bulk
   * bytes they are much faster than the web streams. Use one pair or the
   * other, never both: the web streams are made on first use and read too.
   */
  readonly node?: { readonly stdin: Writable; readonly stdout: Readable };
}

/** A program from `Exec.startWired`. */
export interface WiredProgram {
  readonly pid: number;
  /** Its stdin, to hand to another wired program; holt writes nothing into it. */
  readonly stdin: Writable;
  /** Its exit, with its stderr. */
  readonly done: Promise<ExecResult>;
  /** Bytes it has written so far, as the system counts them (0 when unknown). */
  written(): number;
  kill(): void;
}

export interface Exec {
  /** Human name of the target, for error messages: "local" or "root@10.0.0.2:22". */
  readonly target: string;
  run(request: ExecRequest): Promise<ExecResult>;
  /**
   * Starts a program whose input and output are byte streams, for transfers
   * between hosts (`zfs send` on one, `zfs receive` on the other, relayed by
   * holt). No timeout: the caller kills it. Rejects like `run` when the
   * program cannot be started; a missing program resolves `done` with 127.
   */
  start(request: { readonly argv: readonly string[] }): Promise<RunningProgram>;
  /**
   * Over SSH: starts logging in now whatever a later `start()` carries its
   * bytes over (OpenSSH's client, when it does), and the connection commands
   * run over, so both handshakes overlap the caller's other work. Absent or
   * a no-op elsewhere; `close()` ends them.
   */
  prepareStart?(): void;
  /**
   * This machine only (absent over SSH): starts a program whose stdout is the
   * stdin of another program holt started (its `node.stdin`), so bytes flow
   * between them through the kernel and never through holt. The program is
   * killed when holt dies. Its own stdin is a pipe (`node.stdin`), which
   * another wired program may write into.
   */
  startWired?(request: {
    readonly argv: readonly string[];
    readonly stdout: Writable;
  }): Promise<WiredProgram>;
  /**
   * Sends one HTTP request to a port or Unix socket on the host. Rejects with a HoltError
   * (HOLT_E_HTTP) when no connection can be made or no answer comes in time;
   * any HTTP status, 5xx included, is an answer.
   */
  http(request: HttpRequest): Promise<HttpResponse>;
  /** Release connections. Safe to call more than once. */
  close(): Promise<void>;
}
