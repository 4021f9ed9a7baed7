/**
 * Cold start of the CLI: `holt --version` through the shipped entry (bin/holt.js → dist/,
 * built by scripts/build.ts) against a bare `node -e 0`, and through the sources
 * (`node src/cli/bin.ts --version`, type stripping) for comparison.
 *
 *   node bench/startup.bench.ts [--json] [--runs N]
 *
 * Also `holt validate` on a one-host lab (start-up plus loading holt.config.ts, which wakes
 * Node's type stripper), and both again with NODE_COMPILE_CACHE set to a warm cache, to show
 * what `module.enableCompileCache()` would buy.
 *
 * Each command runs N times (default 10), interleaved, after one unmeasured run of each
 * (so all read from the page cache). Times are wall clock from spawn to exit.
 * Goal: the shipped `holt --version` median under 150 ms.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type BenchResult,
  builtPackage,
  childPeakRssMb,
  isMain,
  median,
  REPO,
  type Row,
  report,
  runsArg,
  stats,
  timeChild,
} from "./lib.ts";

const BENCH = "startup";
const GOAL_MS = 150;

const SMALL_LAB = `import { defineLab } from "holt";

export default defineLab({
  domain: "lab.example.com",
  hosts: { nas: { connect: "local", datasets: { "tank/media": { recordsize: "1M" } } } },
  services: { jellyfin: { host: "nas", state: { config: { path: "/config", quota: "20G" } } } },
});
`;

export async function runStartupBench(runs = runsArg(10)): Promise<BenchResult> {
  const pkg = builtPackage();
  const node = process.execPath;
  const shipped = [node, path.join(pkg, "bin", "holt.js")];
  const lab = mkdtempSync(path.join(tmpdir(), "holt-bench-startup-"));
  const cacheDir = path.join(lab, ".compile-cache");
  try {
    writeFileSync(path.join(lab, "holt.config.ts"), SMALL_LAB);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
    delete env.NODE_COMPILE_CACHE;
    const cached = { ...env, NODE_COMPILE_CACHE: cacheDir };
    const cases: { key: string; name: string; argv: string[]; env: NodeJS.ProcessEnv }[] = [
      { key: "bare", name: "node -e 0 (bare Node)", argv: [node, "-e", "0"], env },
      {
        key: "shipped",
        name: "holt --version (shipped: bin/holt.js → dist)",
        argv: [...shipped, "--version"],
        env,
      },
      {
        key: "dist",
        name: "node dist/bundle/bin.js --version (no bin/holt.js hop)",
        argv: [node, path.join(pkg, "dist", "bundle", "bin.js"), "--version"],
        env,
      },
      {
        key: "source",
        name: "node src/cli/bin.ts --version (type stripping)",
        argv: [node, path.join(REPO, "src", "cli", "bin.ts"), "--version"],
        env,
      },
      {
        key: "cached",
        name: "holt --version, NODE_COMPILE_CACHE warm",
        argv: [...shipped, "--version"],
        env: cached,
      },
      {
        key: "validate",
        name: "holt validate, 1-host lab (shipped)",
        argv: [...shipped, "validate"],
        env,
      },
      {
        key: "validateCached",
        name: "holt validate, 1-host lab, NODE_COMPILE_CACHE warm",
        argv: [...shipped, "validate"],
        env: cached,
      },
    ];
    const samples = new Map<string, number[]>(cases.map((c) => [c.key, []]));
    // One unmeasured run of each: files in the page cache, the compile cache filled.
    for (const c of cases) timeChild(c.argv, { env: c.env, cwd: lab });
    for (let i = 0; i < runs; i++) {
      for (const c of cases) {
        const r = timeChild(c.argv, { env: c.env, cwd: lab });
        if (r.code !== 0) throw new Error(`\`${c.argv.join(" ")}\` exited ${r.code}: ${r.stderr}`);
        samples.get(c.key)?.push(r.ms);
      }
    }
    const bare = median(samples.get("bare") ?? []);
    const rows: Row[] = cases.map((c) => {
      const s = samples.get(c.key) ?? [];
      const m = median(s);
      return stats(BENCH, c.name, s, {
        rssMb: childPeakRssMb(c.argv, { env: c.env, cwd: lab }),
        ...(c.key === "bare" ? {} : { note: `+${(m - bare).toFixed(0)} ms over bare Node` }),
        ...(c.key === "shipped" ? { goal: { text: `< ${GOAL_MS} ms`, pass: m < GOAL_MS } } : {}),
      });
    });
    return {
      bench: BENCH,
      rows,
      notes: [
        "NODE_COMPILE_CACHE rows: what `module.enableCompileCache()` in the entry would give (V8 code cache and, for holt.config.ts, the type-stripped source).",
      ],
    };
  } finally {
    rmSync(lab, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) report(await runStartupBench());
