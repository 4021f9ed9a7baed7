/** `holt logs`: a service container's output, once or followed. */
import type { Exec, ExecResult } from "../../hosts/exec.ts";

export interface LogsOptions {
  /** Keep printing new lines until interrupted. */
  readonly follow: boolean;
  /** Only the last N lines; null for all. */
  readonly tail: number | null;
  readonly onOutput: (stream: "stdout" | "stderr", chunk: string) => void;
}

/** Streams `podman logs` of the container; resolves when it ends (never, with follow, until killed). */
export function containerLogs(exec: Exec, name: string, options: LogsOptions): Promise<ExecResult> {
  const argv = ["podman", "logs"];
  if (options.follow) argv.push("--follow");
  if (options.tail !== null) argv.push("--tail", String(options.tail));
  argv.push(name);
  return exec.run({ argv, timeoutMs: options.follow ? 0 : 120_000, onOutput: options.onOutput });
}
