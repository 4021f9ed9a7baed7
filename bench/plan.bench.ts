/**
 * A no-change `holt plan` over 200 managed datasets on a real zfs-fuse pool, against the
 * floor: one `zfs get -H -p -r all POOL` over the same datasets.
 *
 *   node bench/plan.bench.ts [--json] [--runs N]     (root; zfs-fuse running)
 *
 * Setup (not measured, but reported): a 1 GB sparse test pool, a lab folder whose
 * holt.config.ts declares 200 datasets under it (20 parents with 9 children each, all with
 * properties; compression on the parents, so the pool-capability check runs too), and one real `holt apply --yes` to create them. Then, interleaved, N runs
 * each (default 7) of:
 *   - `holt plan` through the shipped entry (bin/holt.js → dist/, built by scripts/build.ts);
 *   - `holt plan` through the sources (`node src/cli/bin.ts plan`, type stripping);
 *   - `holt validate` through the shipped entry: start-up + config load + model, no host reads;
 *   - the floor, `zfs get -H -p -r all POOL`;
 *   - what holt's read asks zfs-fuse for: `zfs get -H -p -o name,property,source,value PROPS`,
 *     the properties the ZFS provider reads (READ_PROPERTIES);
 *   - the in-process `planLab` (src/lab/plan.ts), with every Exec call it makes timed.
 * Goal: CLI plan median ≤ 2× the floor median.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadLab } from "../src/config/load.ts";
import { createConnections } from "../src/hosts/connect.ts";
import { planLab } from "../src/lab/plan.ts";
import { defaultProviders } from "../src/providers/index.ts";
import { READ_PROPERTIES } from "../src/providers/zfs/provider.ts";
import { ZFS_GET_COLUMNS, zfsGetOrder } from "../src/util/zfs-get.ts";
import { createTestPool, ensureZfsFuse } from "../test/peers/zfs.ts";
import {
  type BenchResult,
  builtPackage,
  childPeakRssMb,
  fmtMs,
  isMain,
  median,
  ownPeakRssMb,
  REPO,
  type Row,
  report,
  runsArg,
  stats,
  type TracedCall,
  timeChild,
  tracedConnections,
  traceLines,
} from "./lib.ts";

const BENCH = "plan";
const PARENTS = 20;
const CHILDREN = 9; // per parent: 20 × (1 + 9) = 200 datasets
const POOL_MB = 1024;
const GOAL_RATIO = 2;

function config(pool: string): string {
  const lines: string[] = [];
  for (let p = 0; p < PARENTS; p++) {
    const parent = `${pool}/app${String(p).padStart(2, "0")}`;
    lines.push(
      `    ${JSON.stringify(parent)}: { quota: "10G", atime: false, compression: "on", properties: { "com.example:team": "t${p % 4}" } },`,
    );
    for (let c = 0; c < CHILDREN; c++) {
      const props =
        c % 3 === 0
          ? `{ quota: "${c + 1}G", readonly: false }`
          : c % 3 === 1
            ? `{ reservation: "1M", exec: false }`
            : `{ copies: 1, properties: { "com.example:backup": "daily" } }`;
      lines.push(`    ${JSON.stringify(`${parent}/d${c}`)}: ${props},`);
    }
  }
  return `import { defineLab } from "holt";

export default defineLab({
  domain: "bench.holt.test",
  hosts: {
    local: {
      connect: "local",
      datasets: {
${lines.join("\n")}
      },
    },
  },
});
`;
}

export async function runPlanBench(runs = runsArg(7)): Promise<BenchResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  await ensureZfsFuse();
  const pkg = builtPackage();
  const pool = await createTestPool({ sizeMb: POOL_MB, prefix: "holtbench" });
  const lab = mkdtempSync(path.join(tmpdir(), "holt-bench-lab-"));
  try {
    const configFile = path.join(lab, "holt.config.ts");
    writeFileSync(configFile, config(pool.name));
    const env = { ...process.env, NO_COLOR: "1", HOLT_STATE_DIR: path.join(lab, ".state") };
    const shipped = [process.execPath, path.join(pkg, "bin", "holt.js")];
    const source = [process.execPath, path.join(REPO, "src", "cli", "bin.ts")];

    console.error(`plan bench: pool ${pool.name} (${POOL_MB} MB sparse); applying 200 datasets`);
    const apply = timeChild([...shipped, "apply", "--yes"], { cwd: lab, env });
    if (apply.code !== 0) throw new Error(`holt apply failed:\n${apply.stderr}${apply.stdout}`);
    const managed = spawnSync("zfs", ["list", "-H", "-o", "name", "-r", pool.name], {
      encoding: "utf8",
    })
      .stdout.split("\n")
      .filter((l) => l !== "").length;
    const onMachine = spawnSync("zfs", ["list", "-H", "-o", "name"], { encoding: "utf8" })
      .stdout.split("\n")
      .filter((l) => l !== "").length;
    const pools = spawnSync("zpool", ["list", "-H", "-o", "name"], { encoding: "utf8" })
      .stdout.split("\n")
      .filter((l) => l !== "").length;
    notes.push(
      `setup: \`holt apply --yes\` created the datasets in ${(apply.ms / 1000).toFixed(1)} s; ` +
        `pool ${pool.name} holds ${managed} filesystems (200 declared + the pool root); ` +
        `the machine had ${pools} pools and ${onMachine} filesystems in all during the run.`,
    );
    const check = timeChild([...shipped, "plan", "--detailed-exitcode"], { cwd: lab, env });
    if (check.code !== 0) {
      throw new Error(
        `after apply, \`holt plan --detailed-exitcode\` exited ${check.code} (expected 0, no changes):\n${check.stdout}${check.stderr}`,
      );
    }

    const floorArgv = ["zfs", "get", "-H", "-p", "-r", "all", pool.name];
    const holtReadArgv = [
      "zfs",
      "get",
      "-H",
      "-p",
      "-o",
      ZFS_GET_COLUMNS,
      zfsGetOrder(READ_PROPERTIES).join(","),
    ];
    const samples: Record<string, number[]> = {
      planShipped: [],
      planSource: [],
      validateShipped: [],
      floor: [],
      holtRead: [],
      inProcess: [],
    };
    const resolved = await loadLab(configFile);
    let lastCalls: TracedCall[] = [];
    let lastStarted = 0;
    const inProcessOnce = async (): Promise<number> => {
      const calls: TracedCall[] = [];
      const connections = tracedConnections(
        createConnections(Object.values(resolved.hosts)),
        calls,
      );
      const started = performance.now();
      try {
        const { plan } = await planLab(resolved, { connections, providers: defaultProviders() });
        if (plan.changes.length > 0)
          throw new Error(`in-process plan has ${plan.changes.length} changes`);
      } finally {
        await connections.closeAll();
      }
      lastCalls = calls;
      lastStarted = started;
      return performance.now() - started;
    };
    await inProcessOnce(); // warm-up: the first call also imports ssh-less paths lazily
    const ok = (argv: string[], cwd?: string) => {
      const r = timeChild(argv, { env, ...(cwd === undefined ? {} : { cwd }) });
      if (r.code !== 0) throw new Error(`\`${argv.join(" ")}\` exited ${r.code}: ${r.stderr}`);
      return r;
    };
    let floorBytes = 0;
    let holtReadBytes = 0;
    for (let i = 0; i < runs; i++) {
      samples.planShipped?.push(ok([...shipped, "plan"], lab).ms);
      const floor = ok(floorArgv);
      floorBytes = floor.stdout.length;
      samples.floor?.push(floor.ms);
      samples.planSource?.push(ok([...source, "plan"], lab).ms);
      const read = ok(holtReadArgv);
      holtReadBytes = read.stdout.length;
      samples.holtRead?.push(read.ms);
      samples.validateShipped?.push(ok([...shipped, "validate"], lab).ms);
      samples.inProcess?.push(await inProcessOnce());
    }

    const floorMedian = median(samples.floor ?? []);
    const ratio = (key: string) => median(samples[key] ?? []) / floorMedian;
    const planRatio = ratio("planShipped");
    rows.push(
      stats(BENCH, "holt plan (shipped: bin/holt.js → dist)", samples.planShipped ?? [], {
        rssMb: childPeakRssMb([...shipped, "plan"], { cwd: lab, env }),
        note: `${planRatio.toFixed(2)}× floor`,
        goal: { text: `≤ ${GOAL_RATIO}× floor`, pass: planRatio <= GOAL_RATIO },
      }),
      stats(BENCH, "holt plan (sources: node src/cli/bin.ts)", samples.planSource ?? [], {
        rssMb: childPeakRssMb([...source, "plan"], { cwd: lab, env }),
        note: `${ratio("planSource").toFixed(2)}× floor`,
      }),
      stats(BENCH, "holt validate (shipped; no host reads)", samples.validateShipped ?? [], {
        rssMb: childPeakRssMb([...shipped, "validate"], { cwd: lab, env }),
        note: "start-up + config load + model",
      }),
      stats(BENCH, "planLab in-process (warm)", samples.inProcess ?? [], {
        rssMb: ownPeakRssMb(),
        note: `${ratio("inProcess").toFixed(2)}× floor; RSS of the bench process`,
      }),
      stats(BENCH, `floor: zfs get -H -p -r all ${pool.name}`, samples.floor ?? [], {
        rssMb: childPeakRssMb(floorArgv),
        note: `${(floorBytes / 1024).toFixed(0)} KiB of output`,
      }),
      stats(BENCH, "zfs get -H -p -o name,property,source,value PROPS", samples.holtRead ?? [], {
        rssMb: childPeakRssMb(holtReadArgv),
        note: `what holt's read runs on zfs-fuse (every pool); ${(holtReadBytes / 1024).toFixed(0)} KiB; ${ratio("holtRead").toFixed(2)}× floor`,
      }),
    );
    const totalCalls = lastCalls.reduce((sum, c) => sum + c.ms, 0);
    notes.push(
      `planLab made ${lastCalls.length} Exec calls (last run; ${fmtMs(totalCalls)} ms of ${fmtMs(samples.inProcess?.at(-1) ?? Number.NaN)} ms in them):`,
    );
    notes.push(...traceLines(lastCalls, lastStarted));
    return { bench: BENCH, rows, notes };
  } finally {
    rmSync(lab, { recursive: true, force: true });
    await pool.destroy();
  }
}

if (isMain(import.meta.url)) report(await runPlanBench());
