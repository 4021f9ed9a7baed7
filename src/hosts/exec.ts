/**
 * How holt runs a program on a host. Providers receive an `Exec` and never
 * touch `child_process` or SSH themselves, so the same provider code runs
 * locally, over SSH, and against a recorded fake in tests.
 */

/** One program invocation. `argv[0]` is the program; no shell is involved locally. */
export interface ExecRequest {
  readonly argv: readonly string[];
  /** Bytes written to the program's standard input, then closed. */
  readonly stdin?: string;
  /** Give up after this many milliseconds. @default 120000 */
  readonly timeoutMs?: number;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; `null` when the program was killed by a signal. */
  readonly code: number | null;
  readonly signal: string | null;
}

export interface Exec {
  /** Human name of the target, for error messages: "local" or "root@10.0.0.2:22". */
  readonly target: string;
  run(request: ExecRequest): Promise<ExecResult>;
  /** Release connections. Safe to call more than once. */
  close(): Promise<void>;
}
