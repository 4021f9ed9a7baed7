/**
 * holt's test runner, behind `npm test`.
 *
 *   node scripts/test.ts                 unit tests (src/**\/*.test.ts) and end-to-end tests (test/**\/*.test.ts)
 *   node scripts/test.ts --unit          unit tests only
 *   node scripts/test.ts FILE...         just these files
 *
 * Each test file runs in its own process, two at a time; every test has a 5 minute timeout.
 * Files that start Podman containers (they call ensureTestImages) run after all the others,
 * never beside them: every new container copies the host's mount table into its own mount
 * namespace for a moment, and zfs-fuse then refuses to unmount, rename or destroy the test
 * pools' datasets ("dataset is busy"), which the ZFS tests do all the time.
 * When zfs-fuse stops answering or dies (test/peers/zfs-watch.ts), it is restarted, and the files that
 * failed in that phase run once more; their second results count, and a line above the count
 * names them.
 * Output is the spec reporter's, followed by one last line `N passed, N failed[, N skipped]`
 * counting individual tests (suites are not counted, todo tests count as skipped). Exits 1
 * when any test failed, a file crashed outside its tests, or no test ran at all.
 */
import { readFileSync } from "node:fs";
import { glob } from "node:fs/promises";
import path from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";
import { fileURLToPath } from "node:url";
import { zfsFuseInstalled } from "../test/peers/zfs.ts";
import { restartZfsFuse, watchZfsFuse } from "../test/peers/zfs-watch.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CONCURRENCY = 2;
const TEST_TIMEOUT_MS = 5 * 60 * 1000;
const RUN_DEADLINE_MS = 25 * 60 * 1000;

function usage(): never {
  console.error("usage: node scripts/test.ts [--unit] [test-file...]");
  process.exit(2);
}

async function collect(patterns: string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const pattern of patterns) {
    for await (const file of glob(pattern, { cwd: root })) {
      const parts = file.split(path.sep);
      if (parts.includes("node_modules") || parts.includes("fixtures")) continue;
      // test/peers/** holds helpers for the end-to-end tests; only its direct *.test.ts are tests.
      if (parts[0] === "test" && parts[1] === "peers" && parts.length > 3) continue;
      files.add(file);
    }
  }
  return [...files].sort();
}

async function selectFiles(argv: string[]): Promise<string[]> {
  let unit = false;
  const given: string[] = [];
  for (const arg of argv) {
    if (arg === "--unit") unit = true;
    else if (arg === "--help" || arg === "-h") usage();
    else if (arg.startsWith("-")) {
      console.error(`unknown option: ${arg}`);
      usage();
    } else given.push(arg);
  }
  if (given.length > 0) return given.map((file) => path.resolve(file));
  const patterns = unit ? ["src/**/*.test.ts"] : ["src/**/*.test.ts", "test/**/*.test.ts"];
  return (await collect(patterns)).map((file) => path.join(root, file));
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * Counts finished tests. Suites are not counted themselves, except a suite that failed with
 * no failing test inside it (a hook threw, or a file crashed): that counts as one failure.
 * Completion events for one file arrive children first, so the failures of a node's
 * descendants are known when the node itself completes.
 */
function makeCounter() {
  /** Per file: what its tests came to. */
  const perFile = new Map<string, Counts>();
  /** Per file: failures counted so far below each nesting level, not yet claimed by a parent. */
  const pending = new Map<string, number[]>();

  function completed(
    file: string | undefined,
    nesting: number,
    type: "suite" | "test" | undefined,
    outcome: "pass" | "fail" | "skip",
  ): void {
    const levels = pending.get(file ?? "") ?? [];
    pending.set(file ?? "", levels);
    let below = 0;
    for (let level = nesting + 1; level < levels.length; level++) {
      below += levels[level] ?? 0;
      levels[level] = 0;
    }
    let mine = 0;
    const counts = perFile.get(file ?? "") ?? { passed: 0, failed: 0, skipped: 0 };
    perFile.set(file ?? "", counts);
    if (type === "suite") {
      if (outcome === "fail" && below === 0) {
        counts.failed++;
        mine = 1;
      }
    } else if (outcome === "fail") {
      counts.failed++;
      mine = 1;
    } else if (outcome === "skip") counts.skipped++;
    else counts.passed++;
    levels[nesting] = (levels[nesting] ?? 0) + below + mine;
  }

  /** The files with a failure so far. */
  const failing = (): string[] =>
    [...perFile].filter(([, counts]) => counts.failed > 0).map(([file]) => file);

  /** Forgets a file's results, before it runs again. */
  const forget = (file: string): void => {
    perFile.delete(file);
    pending.delete(file);
  };

  const total = (): Counts => {
    const sum: Counts = { passed: 0, failed: 0, skipped: 0 };
    for (const counts of perFile.values()) {
      sum.passed += counts.passed;
      sum.failed += counts.failed;
      sum.skipped += counts.skipped;
    }
    return sum;
  };
  return { completed, failing, forget, total };
}

const files = await selectFiles(process.argv.slice(2));
if (files.length === 0) {
  console.log("no test files found");
  console.log("0 passed, 0 failed");
  process.exit(1);
}

const { completed, failing, forget, total } = makeCounter();
let endsWithNewline = true;

// On Ctrl-C or a kill, cancel the run: the test processes get stopped (and so clean up)
// instead of being orphaned.
const abort = new AbortController();
let interrupted: NodeJS.Signals | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted !== undefined) process.exit(130);
    interrupted = signal;
    abort.abort();
  });
}

/** Runs some files (two at a time) and resolves when their results are all reported. */
async function runFiles(group: readonly string[]): Promise<void> {
  if (group.length === 0 || interrupted !== undefined) return;
  const stream = run({
    files: [...group],
    signal: abort.signal,
    cwd: root,
    concurrency: CONCURRENCY,
    timeout: TEST_TIMEOUT_MS,
    isolation: "process",
    // Not forceExit: with it, a test process can exit before its last results reach us, and
    // passing tests go uncounted. A file that leaks a handle instead hits the run's deadline.
    forceExit: false,
  });
  stream.on("test:pass", (data) => {
    const skipped = data.skip !== undefined || data.todo !== undefined;
    completed(data.file, data.nesting, data.details.type, skipped ? "skip" : "pass");
  });
  stream.on("test:fail", (data) => {
    // A failing todo test is expected to fail: not a failure.
    completed(
      data.file,
      data.nesting,
      data.details.type,
      data.todo !== undefined ? "skip" : "fail",
    );
  });
  const reporter = stream.compose(spec);
  reporter.on("data", (chunk: string | Buffer) => {
    const text = chunk.toString();
    if (text.length > 0) endsWithNewline = text.endsWith("\n");
    process.stdout.write(text);
  });
  await new Promise<void>((resolve, reject) => {
    reporter.on("end", resolve);
    reporter.on("error", reject);
  });
}

// The whole run's deadline, so a file that never exits cannot hang CI.
const deadline = setTimeout(() => {
  process.stdout.write(`\nthe test run passed its ${RUN_DEADLINE_MS / 60_000} minute deadline\n`);
  interrupted = "SIGTERM";
  abort.abort();
}, RUN_DEADLINE_MS);
deadline.unref();

// zfs-fuse, the tests' stand-in for the kernel's OpenZFS, now and then deadlocks under load, or
// dies (see test/peers/zfs-watch.ts). When it does, the watchdog restarts it, and the files that
// failed in that phase run once more after it; the summary says so. A file that fails again
// fails the run.
const stalls: string[] = [];
/** The latest restart; the rerun, the next phase and the count wait for it. */
let restarting: Promise<void> = Promise.resolve();
const watch = zfsFuseInstalled()
  ? watchZfsFuse((reason) => {
      const line = `zfs-fuse stopped working: ${reason}; restarting it`;
      stalls.push(reason);
      process.stdout.write(`${endsWithNewline ? "" : "\n"}\n${line}\n`);
      endsWithNewline = true;
      restarting = restartZfsFuse().catch((error: Error) => {
        process.stdout.write(`restarting zfs-fuse failed: ${error.message}\n`);
      });
      return restarting;
    })
  : undefined;

const rerun: string[] = [];
async function runPhase(group: readonly string[]): Promise<void> {
  const stallsBefore = stalls.length;
  const failedBefore = new Set(failing());
  await runFiles(group);
  await restarting;
  if (stalls.length === stallsBefore || interrupted !== undefined) return;
  // Only this phase's own files run again. Tests declared in a shared helper module are filed
  // under the helper's path (node:test does so): a failure there runs every file that imports
  // the helper again, and their helper results are counted anew, unless one of them ran in
  // another phase (its results cannot be told apart then, and they stay as they were).
  const again = new Set<string>();
  const helpers: string[] = [];
  for (const file of failing().filter((f) => !failedBefore.has(f))) {
    if (group.includes(file)) {
      again.add(file);
      continue;
    }
    const users = files.filter((f) => readFileSync(f, "utf8").includes(path.basename(file)));
    if (users.length === 0 || !users.every((f) => group.includes(f))) continue;
    helpers.push(file);
    for (const f of users) again.add(f);
  }
  if (again.size === 0) return;
  const names = [...again].map((file) => path.relative(root, file)).join(", ");
  process.stdout.write(`\nzfs-fuse was restarted during this phase; running again: ${names}\n`);
  for (const file of [...again, ...helpers]) forget(file);
  rerun.push(...again);
  await runFiles([...again]);
  await restarting;
}

const startsContainers = (file: string): boolean =>
  readFileSync(file, "utf8").includes("ensureTestImages(");
await runPhase(files.filter((f) => !startsContainers(f)));
await runPhase(files.filter(startsContainers));
watch?.stop();
await restarting;

const counts = total();
const all = counts.passed + counts.failed + counts.skipped;
let summary = `${counts.passed} passed, ${counts.failed} failed`;
if (counts.skipped > 0) summary += `, ${counts.skipped} skipped`;
if (!endsWithNewline) process.stdout.write("\n");
if (interrupted !== undefined) process.stdout.write(`\ninterrupted by ${interrupted}\n`);
if (stalls.length > 0) {
  const names = rerun.map((file) => path.relative(root, file)).join(", ") || "none";
  process.stdout.write(
    `\nzfs-fuse stalled or died ${stalls.length} time(s) and was restarted; files run again: ${names}\n`,
  );
}
process.stdout.write(`\n${summary}\n`);
if (interrupted !== undefined) process.exitCode = interrupted === "SIGINT" ? 130 : 143;
else process.exitCode = counts.failed > 0 || all === 0 ? 1 : 0;
