/**
 * Shared helpers for the benchmarks: timing, statistics, the built package, and the
 * result format that bench/run.ts collects.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Connections } from "../src/hosts/connect.ts";
import type {
  Exec,
  ExecRequest,
  ExecResult,
  HttpRequest,
  HttpResponse,
} from "../src/hosts/exec.ts";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** One measured thing. Times are milliseconds; `rssMb` is the peak resident set size. */
export interface Row {
  readonly bench: string;
  readonly name: string;
  /** Median of `runs` runs. */
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly runs: number;
  readonly rssMb?: number;
  /** Free text: ratios, counts, the goal. */
  readonly note?: string;
  /** Set on rows that carry a goal. */
  readonly goal?: { readonly text: string; readonly pass: boolean };
}

export interface BenchResult {
  readonly bench: string;
  readonly rows: readonly Row[];
  /** Context worth printing under the table (machine state, explanations). */
  readonly notes: readonly string[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function stats(
  bench: string,
  name: string,
  samples: readonly number[],
  extra: Partial<Row> = {},
): Row {
  return {
    bench,
    name,
    medianMs: median(samples),
    minMs: Math.min(...samples),
    maxMs: Math.max(...samples),
    runs: samples.length,
    ...extra,
  };
}

/** Runs `fn` `runs` times (after `warmup` unmeasured runs) and returns the durations. */
export async function timeRuns(
  runs: number,
  fn: () => unknown | Promise<unknown>,
  warmup = 0,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return samples;
}

export interface ChildRun {
  readonly ms: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end and times it from spawn to exit (wall clock). */
export function timeChild(
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ChildRun {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error("timeChild: empty argv");
  const started = performance.now();
  const r = spawnSync(program, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const ms = performance.now() - started;
  if (r.error !== undefined) throw r.error;
  return { ms, code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Times `runs` runs of a program; throws when one fails. */
export function timeChildRuns(
  runs: number,
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; okCodes?: readonly number[] } = {},
): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(checked(argv, timeChild(argv, options), options).ms);
  return samples;
}

function checked(argv: readonly string[], run: ChildRun, options: { okCodes?: readonly number[] }) {
  if (!(options.okCodes ?? [0]).includes(run.code ?? -1)) {
    throw new Error(
      `\`${argv.join(" ")}\` exited with ${run.code}:\n${run.stderr.slice(-2000)}${run.stdout.slice(-2000)}`,
    );
  }
  return run;
}

/**
 * Peak RSS of a child process in MB, by GNU time (`/usr/bin/time -f %M`), from one extra run.
 * Undefined when /usr/bin/time is not installed.
 */
export function childPeakRssMb(
  argv: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; okCodes?: readonly number[] } = {},
): number | undefined {
  if (!existsSync("/usr/bin/time")) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), "holt-bench-rss-"));
  try {
    const out = path.join(dir, "rss");
    checked(argv, timeChild(["/usr/bin/time", "-f", "%M", "-o", out, ...argv], options), options);
    const kb = Number(readFileSync(out, "utf8").trim().split("\n").pop());
    return Number.isFinite(kb) ? kb / 1024 : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Peak RSS of this process so far, in MB. */
export function ownPeakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * A built copy of the package (bin/ + dist/, node_modules linked to the checkout's), made
 * with scripts/build.ts in a temporary folder so the checkout's dist/ is left alone.
 * HOLT_BENCH_PACKAGE names one already built (bench/run.ts builds once for all benches).
 */
export function builtPackage(): string {
  const given = process.env.HOLT_BENCH_PACKAGE;
  if (given !== undefined && given !== "") return given;
  const stage = mkdtempSync(path.join(tmpdir(), "holt-bench-pkg-"));
  process.on("exit", () => rmSync(stage, { recursive: true, force: true }));
  for (const entry of [
    "package.json",
    "bin",
    "src",
    "tsconfig.json",
    "tsconfig.build.json",
    "scripts/build.ts",
  ]) {
    cpSync(path.join(REPO, entry), path.join(stage, entry), { recursive: true });
  }
  symlinkSync(path.join(REPO, "node_modules"), path.join(stage, "node_modules"), "dir");
  execFileSync(process.execPath, [path.join(stage, "scripts", "build.ts")], {
    cwd: stage,
    stdio: ["ignore", "ignore", "inherit"],
  });
  process.env.HOLT_BENCH_PACKAGE = stage;
  return stage;
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/** A plain-text table: columns padded, numbers right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.every((r) => /^[-\d.×x%]*$/.test(r[i] ?? "")));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function renderResult(result: BenchResult): string {
  const rows = result.rows.map((r) => [
    r.name,
    fmtMs(r.medianMs),
    fmtMs(r.minMs),
    fmtMs(r.maxMs),
    String(r.runs),
    r.rssMb === undefined ? "-" : r.rssMb.toFixed(0),
    r.goal === undefined ? "" : `${r.goal.pass ? "PASS" : "FAIL"} (${r.goal.text})`,
    r.note ?? "",
  ]);
  return [
    `== ${result.bench}`,
    table(["case", "median ms", "min", "max", "runs", "peak RSS MB", "goal", "note"], rows),
    ...result.notes.map((n) => `  ${n}`),
  ].join("\n");
}

/**
 * How a bench file ends: `--json` prints the result for bench/run.ts, otherwise a table.
 */
export function report(result: BenchResult): void {
  if (process.argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    console.log(renderResult(result));
  }
}

/** True when this module is the process's entry point (run directly, not imported). */
export function isMain(url: string): boolean {
  return process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(url);
}

/** `--runs N` from the command line, else `fallback`. */
export function runsArg(fallback: number): number {
  const at = process.argv.indexOf("--runs");
  const n = at === -1 ? fallback : Number(process.argv[at + 1]);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** One call a traced Exec made: a program run or an HTTP request. */
export interface TracedCall {
  readonly kind: "run" | "http";
  /** The argv joined, or "GET 127.0.0.1:2019/config/". */
  readonly what: string;
  /** `performance.now()` when the call started. */
  readonly startedAt: number;
  readonly ms: number;
  /** Exit code, or HTTP status; null when killed, or when no HTTP answer came. */
  readonly status: number | null;
  /** Size of stdout, or of the HTTP body. */
  readonly bytes: number;
}

/**
 * Connections whose Execs record every `run` and `http` call in `calls`. Each inner Exec
 * gets one wrapper, so what holt caches per Exec (Podman's version, systemd) stays cached.
 */
export function tracedConnections(inner: Connections, calls: TracedCall[]): Connections {
  const wrappers = new WeakMap<Exec, Exec>();
  return {
    async execFor(host) {
      const exec = await inner.execFor(host);
      const known = wrappers.get(exec);
      if (known !== undefined) return known;
      const traced: Exec = {
        target: exec.target,
        async run(request: ExecRequest): Promise<ExecResult> {
          const startedAt = performance.now();
          const result = await exec.run(request);
          calls.push({
            kind: "run",
            what: request.argv.join(" "),
            startedAt,
            ms: performance.now() - startedAt,
            status: result.code,
            bytes: result.stdout.length,
          });
          return result;
        },
        // Started programs stream for as long as the caller wants; not timed here.
        start: (request) => exec.start(request),
        async http(request: HttpRequest): Promise<HttpResponse> {
          const startedAt = performance.now();
          const what = `${request.method} ${request.address ?? "127.0.0.1"}:${request.port}${request.path}`;
          const done = (status: number | null, bytes: number) =>
            calls.push({
              kind: "http",
              what,
              startedAt,
              ms: performance.now() - startedAt,
              status,
              bytes,
            });
          try {
            const response = await exec.http(request);
            done(response.status, response.body.length);
            return response;
          } catch (error) {
            done(null, 0);
            throw error;
          }
        },
        close: () => exec.close(),
      };
      wrappers.set(exec, traced);
      return traced;
    },
    closeAll: () => inner.closeAll(),
  };
}

/**
 * Milliseconds of [from, to] that no call covers: time spent in the process itself
 * (parsing, diffing, waiting for the event loop) rather than waiting for a host.
 */
export function uncoveredMs(calls: readonly TracedCall[], from: number, to: number): number {
  const spans = calls
    .map((c) => [c.startedAt, c.startedAt + c.ms] as const)
    .sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let end = from;
  for (const [start, stop] of spans) {
    const s = Math.max(start, end);
    const e = Math.min(stop, to);
    if (e > s) covered += e - s;
    end = Math.max(end, stop);
  }
  return to - from - covered;
}

/** The calls as a timeline: start offset from `from`, duration, status, size, what. */
export function traceLines(calls: readonly TracedCall[], from: number): string[] {
  return [...calls]
    .sort((a, b) => a.startedAt - b.startedAt)
    .map(
      (c) =>
        `  +${fmtMs(c.startedAt - from).padStart(6)} ms  ${fmtMs(c.ms).padStart(6)} ms  ${String(c.status ?? "-").padStart(3)}  ${String(c.bytes).padStart(7)} B  ${c.what}`,
    );
}
