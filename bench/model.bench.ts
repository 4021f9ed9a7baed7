/**
 * The model: validateLab + compileLab (src/config/validate.ts, src/model/compile.ts) on
 * synthetic labs of 20, 200 and 2000 services, each service with 2 or 3 state entries that
 * carry properties. Pure CPU, no I/O.
 *
 *   node bench/model.bench.ts [--json]
 *
 * Two numbers per size:
 *   - warm: median of 15 in-process runs after 3 warm-up runs (the daemon's steady state);
 *   - cold: the first run in a fresh process, median over 5 processes (what one `holt
 *     validate` or `holt plan` pays, before the JIT has seen the code).
 * Goal: under 200 ms for 2000 services (checked on the cold number, the worse one), and linear
 * growth: the cost per service at 2000 is at most 1.5× the cost per service at 200.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { validateLab } from "../src/config/validate.ts";
import { compileLab } from "../src/model/compile.ts";
import { type BenchResult, isMain, median, ownPeakRssMb, type Row, report, stats } from "./lib.ts";

const BENCH = "model";
export const SIZES = [20, 200, 2000] as const;
const SERVICES_PER_HOST = 20;
const WARM_RUNS = 15;
const WARMUP = 3;
const COLD_PROCESSES = 5;
const GOAL_MS = 200;

/** A lab as holt.config.ts would export it: `services` services on `services / 20` hosts. */
export function syntheticLab(services: number): unknown {
  const hostCount = Math.max(1, Math.ceil(services / SERVICES_PER_HOST));
  const hosts: Record<string, unknown> = {};
  for (let h = 0; h < hostCount; h++) {
    hosts[`host-${h}`] = {
      address: `10.0.${Math.floor(h / 250)}.${(h % 250) + 1}`,
      connect: h === 0 ? "local" : { ssh: { user: "root", port: 22 } },
      stateRoot: "tank/holt",
      datasets: {
        "tank/media": { recordsize: "1M", compression: "lz4", atime: false },
        "tank/backup": { quota: "500G", properties: { "com.example:backup": "weekly" } },
      },
    };
  }
  const all: Record<string, unknown> = {};
  for (let i = 0; i < services; i++) {
    const host = `host-${Math.floor(i / SERVICES_PER_HOST)}`;
    const name = `svc-${String(i).padStart(5, "0")}`;
    const state: Record<string, unknown> = {
      config: { path: "/config", quota: "20G", compression: "lz4", atime: false },
      data: {
        path: "/data",
        recordsize: "16K",
        reservation: "1G",
        properties: { "com.example:owner": `team-${i % 7}` },
      },
    };
    if (i % 2 === 0) state.cache = { path: "/cache", quota: "5G", copies: 1, snapdir: "hidden" };
    const previous = `svc-${String(i - 1).padStart(5, "0")}`;
    all[name] = {
      host,
      state,
      ...(i % SERVICES_PER_HOST !== 0 && i % 5 === 0 ? { dependsOn: [previous] } : {}),
    };
  }
  return { domain: "bench.example.com", hosts, services: all };
}

/** validate + compile once; returns the times and the resource count. */
export function compileOnce(raw: unknown): {
  validateMs: number;
  compileMs: number;
  resources: number;
} {
  const t0 = performance.now();
  const result = validateLab(raw, "/bench/holt.config.ts");
  const t1 = performance.now();
  if (!result.ok) {
    throw new Error(`synthetic lab is invalid: ${JSON.stringify(result.problems.slice(0, 3))}`);
  }
  const { graph, problems } = compileLab(result.lab);
  const t2 = performance.now();
  if (problems.length > 0) throw new Error(`compile problems: ${JSON.stringify(problems[0])}`);
  return { validateMs: t1 - t0, compileMs: t2 - t1, resources: graph.resources.length };
}

/** One cold run in a fresh process (the `--cold N` mode of this file). */
function coldInChild(size: number): { validateMs: number; compileMs: number } {
  const out = execFileSync(
    process.execPath,
    [fileURLToPath(import.meta.url), "--cold", String(size)],
    { encoding: "utf8" },
  );
  return JSON.parse(out) as { validateMs: number; compileMs: number };
}

export async function runModelBench(): Promise<BenchResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const perService = new Map<number, number>();
  for (const size of SIZES) {
    const raw = syntheticLab(size);
    const cold = Array.from({ length: COLD_PROCESSES }, () => coldInChild(size));
    const coldTotal = cold.map((c) => c.validateMs + c.compileMs);
    let resources = 0;
    for (let i = 0; i < WARMUP; i++) resources = compileOnce(raw).resources;
    const warm = Array.from({ length: WARM_RUNS }, () => compileOnce(raw));
    const warmTotal = warm.map((w) => w.validateMs + w.compileMs);
    const validateMedian = median(warm.map((w) => w.validateMs));
    const compileMedian = median(warm.map((w) => w.compileMs));
    perService.set(size, median(warmTotal) / size);
    const coldMedian = median(coldTotal);
    rows.push(
      stats(BENCH, `${size} services, cold (validate+compile)`, coldTotal, {
        note: `${resources} resources; validate ${median(cold.map((c) => c.validateMs)).toFixed(1)} + compile ${median(cold.map((c) => c.compileMs)).toFixed(1)} ms`,
        ...(size === 2000 ? { goal: { text: `< ${GOAL_MS} ms`, pass: coldMedian < GOAL_MS } } : {}),
      }),
    );
    rows.push(
      stats(BENCH, `${size} services, warm (validate+compile)`, warmTotal, {
        note: `validate ${validateMedian.toFixed(2)} + compile ${compileMedian.toFixed(2)} ms; ${((median(warmTotal) / size) * 1000).toFixed(1)} µs/service`,
        ...(size === 2000
          ? { goal: { text: `< ${GOAL_MS} ms`, pass: median(warmTotal) < GOAL_MS } }
          : {}),
      }),
    );
  }
  const at200 = perService.get(200) ?? Number.NaN;
  const at2000 = perService.get(2000) ?? Number.NaN;
  const growth = at2000 / at200;
  notes.push(
    `scaling: warm cost per service ${(at200 * 1000).toFixed(1)} µs at 200, ${(at2000 * 1000).toFixed(1)} µs at 2000 ` +
      `(${growth.toFixed(2)}×; linear is 1×, goal ≤ 1.5×): ${growth <= 1.5 ? "PASS" : "FAIL"}`,
  );
  rows.push({
    bench: BENCH,
    name: "scaling 200 → 2000 (per-service cost ratio)",
    medianMs: Number.NaN,
    minMs: Number.NaN,
    maxMs: Number.NaN,
    runs: WARM_RUNS,
    rssMb: ownPeakRssMb(),
    note: `${growth.toFixed(2)}× per service; peak RSS is this process after all sizes`,
    goal: { text: "≤ 1.5× (linear)", pass: growth <= 1.5 },
  });
  return { bench: BENCH, rows, notes };
}

if (isMain(import.meta.url)) {
  const coldAt = process.argv.indexOf("--cold");
  if (coldAt !== -1) {
    const size = Number(process.argv[coldAt + 1]);
    const raw = syntheticLab(size);
    const { validateMs, compileMs } = compileOnce(raw);
    process.stdout.write(`${JSON.stringify({ validateMs, compileMs })}\n`);
  } else {
    report(await runModelBench());
  }
}
