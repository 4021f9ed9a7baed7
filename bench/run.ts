/**
 * holt's benchmarks, behind `npm run bench`. Not part of the tests.
 *
 *   node bench/run.ts                  all: model, plan, services, startup, certificates, backup
 *   node bench/run.ts startup model    just these
 *   node bench/run.ts --json           the results as JSON (one object) on stdout
 *   node bench/run.ts --runs 3         fewer (or more) runs per case, for plan, services, startup
 *
 * Builds the package once (scripts/build.ts, in a temporary copy: the checkout's dist/ is not
 * touched), then runs each bench file in its own process, so peak RSS and cold-start numbers
 * belong to one benchmark. The plan benchmark needs root and zfs-fuse (bash scripts/setup.sh);
 * the services benchmark also needs Podman and Caddy.
 * Prints one table per benchmark and a summary of the goals; exits 1 when a benchmark failed
 * to run (a missed goal is reported, not an error).
 */
import { execFileSync } from "node:child_process";
import { cpus, loadavg, release } from "node:os";
import path from "node:path";
import { type BenchResult, builtPackage, REPO, renderResult, table } from "./lib.ts";

const ALL = ["model", "plan", "services", "startup", "certificates", "backup"] as const;

const args = process.argv.slice(2);
const json = args.includes("--json");
const runsAt = args.indexOf("--runs");
const runs = runsAt === -1 ? [] : ["--runs", args[runsAt + 1] ?? ""];
const names = args.filter((a, i) => !a.startsWith("-") && (runsAt === -1 || i !== runsAt + 1));
for (const name of names) {
  if (!(ALL as readonly string[]).includes(name)) {
    console.error(`unknown benchmark "${name}"; choose from: ${ALL.join(", ")}`);
    process.exit(2);
  }
}
const selected = names.length > 0 ? names : [...ALL];

function osName(): string {
  try {
    const text = execFileSync("sh", ["-c", ". /etc/os-release && echo $PRETTY_NAME"], {
      encoding: "utf8",
    }).trim();
    return text !== "" ? text : process.platform;
  } catch {
    return process.platform;
  }
}

const machine = [
  `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}`,
  osName(),
  `Linux ${release()}`,
  `Node ${process.version}`,
].join(", ");
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

console.error(`bench: ${machine}; load average ${load()}`);
const started = performance.now();
const pkg = builtPackage();
console.error(`bench: built the package in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const results: BenchResult[] = [];
const failed: string[] = [];
for (const name of selected) {
  const before = load();
  console.error(`bench: running ${name} (load average ${before})`);
  try {
    const out = execFileSync(
      process.execPath,
      [path.join(REPO, "bench", `${name}.bench.ts`), "--json", ...runs],
      {
        cwd: REPO,
        encoding: "utf8",
        env: { ...process.env, HOLT_BENCH_PACKAGE: pkg },
        stdio: ["ignore", "pipe", "inherit"],
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const result = JSON.parse(out.trim().split("\n").pop() ?? "") as BenchResult;
    results.push({
      ...result,
      notes: [...result.notes, `load average (1, 5, 15 min) before: ${before}; after: ${load()}`],
    });
  } catch (error) {
    failed.push(name);
    console.error(`bench: ${name} failed: ${(error as Error).message}`);
  }
}

if (json) {
  process.stdout.write(`${JSON.stringify({ machine, results, failed })}\n`);
} else {
  console.log(`machine: ${machine}\n`);
  for (const result of results) console.log(`${renderResult(result)}\n`);
  const goals = results.flatMap((r) =>
    r.rows
      .filter((row) => row.goal !== undefined)
      .map((row) => [r.bench, row.name, row.goal?.text ?? "", row.goal?.pass ? "PASS" : "FAIL"]),
  );
  if (goals.length > 0) console.log(table(["bench", "case", "goal", "result"], goals));
  if (failed.length > 0) console.log(`\nfailed to run: ${failed.join(", ")}`);
}
process.exitCode = failed.length > 0 ? 1 : 0;
