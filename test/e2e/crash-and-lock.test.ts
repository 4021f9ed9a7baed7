/**
 * Crash safety and the apply lock, against real zfs-fuse: SIGKILL the apply
 * at every step boundary of a 12-step plan, then check that a rerun
 * converges with nothing duplicated, orphaned or destroyed; and check that a
 * second apply fails at once, naming the first.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import {
  createLabFolder,
  datasetsUnder,
  destroyWhenFree,
  type LabFolder,
  zfsGet,
} from "./harness.ts";

let pool: TestPool;
let lab: LabFolder;

before(async () => {
  pool = await createTestPool({ sizeMb: 512 });
  lab = createLabFolder();
});

after(async () => {
  lab?.remove();
  await pool?.destroy();
});

const baseline = (p: string) => `import { defineLab } from "holt";
export default defineLab({
  domain: "crash.example.com",
  name: "${p.replaceAll("_", "-")}",
  hosts: { box: { connect: "local", stateRoot: "${p}/holt", datasets: {
    "${p}/a": { recordsize: "128K" },
    "${p}/a/b": { quota: "100M" },
    "${p}/r1": {},
    "${p}/r2": { properties: { "com.example:tag": "old" } },
  } } },
  services: { s1: { host: "box", state: { config: { path: "/config", quota: "10M" } } } },
});
`;

// 12 steps from the baseline: 7 creates, 3 updates, 2 releases.
const target = (p: string) => `import { defineLab } from "holt";
export default defineLab({
  domain: "crash.example.com",
  name: "${p.replaceAll("_", "-")}",
  hosts: { box: { connect: "local", stateRoot: "${p}/holt", datasets: {
    "${p}/a": { recordsize: "64K" },
    "${p}/a/b": { quota: "200M" },
    "${p}/n1": { compression: "on" },
    "${p}/n1/x": { atime: "off" },
    "${p}/n1/y": { properties: { "com.example:kind": "y" } },
    "${p}/n2": {},
  } } },
  services: {
    s1: { host: "box", state: { config: { path: "/config", quota: "20M" } } },
    s2: { host: "box", state: { data: { path: "/data" }, db: { path: "/db", recordsize: "16K" } } },
  },
});
`;

function reset(p: string): void {
  for (const child of datasetsUnder(p)) {
    if (child !== p && child.split("/").length === 2) destroyWhenFree(child, { recursive: true });
  }
}

const EXPECTED_AFTER = (p: string) =>
  [
    p,
    "a",
    "a/b",
    "holt",
    "holt/s1",
    "holt/s1/config",
    "holt/s2",
    "holt/s2/data",
    "holt/s2/db",
    "n1",
    "n1/x",
    "n1/y",
    "n2",
    "r1",
    "r2",
  ]
    .map((d) => (d === p ? p : `${p}/${d}`))
    .sort();

test("SIGKILL at every step boundary: each rerun converges, nothing duplicated, orphaned or destroyed", async () => {
  const p = pool.name;
  lab.write(target(p));
  reset(p);
  lab.write(baseline(p));
  assert.equal(lab.holt(["apply", "--yes"]).code, 0);
  lab.write(target(p));
  const plan = lab.holt(["plan", "--json"]);
  const steps = (JSON.parse(plan.stdout) as { changes: unknown[] }).changes.length;
  assert.equal(steps, 12, plan.stderr);

  for (let k = 1; k < steps; k++) {
    reset(p);
    lab.write(baseline(p));
    const setup = lab.holt(["apply", "--yes"]);
    assert.equal(setup.code, 0, setup.stderr);
    lab.write(target(p));
    const crashed = lab.holt(["apply", "--yes", "--parallelism", "1"], {
      HOLT_TEST_CRASH_AFTER_STEP: String(k),
    });
    assert.equal(
      crashed.signal,
      "SIGKILL",
      `step ${k}: the apply should have been killed\n${crashed.stderr}`,
    );
    const finishedBeforeCrash = (crashed.stderr.match(/✓/g) ?? []).length;
    assert.equal(finishedBeforeCrash, k, `step ${k}`);

    const rerun = lab.holt(["apply", "--yes"]);
    assert.equal(rerun.code, 0, `step ${k}: rerun failed\n${rerun.stderr}`);
    assert.match(rerun.stderr, /Plan: \d+ to add/, `step ${k}`);
    const check = lab.holt(["plan", "--detailed-exitcode"]);
    assert.equal(check.code, 0, `step ${k}: not converged\n${check.stdout}`);

    assert.deepEqual(datasetsUnder(p), EXPECTED_AFTER(p), `step ${k}: dataset set`);
    for (const released of ["r1", "r2"]) {
      assert.notEqual(
        zfsGet(`${p}/${released}`, "holt:managed")?.[1],
        "local",
        `step ${k}: ${released} released`,
      );
    }
    assert.deepEqual(zfsGet(`${p}/a`, "recordsize"), ["65536", "local"]);
    assert.deepEqual(zfsGet(`${p}/holt/s2/db`, "recordsize"), ["16384", "local"]);
    assert.deepEqual(zfsGet(`${p}/n1/y`, "com.example:kind"), ["y", "local"]);
    assert.deepEqual(zfsGet(`${p}/holt/s1/config`, "quota"), [String(20 * 1024 * 1024), "local"]);
    assert.equal(
      datasetsUnder(p).filter((d) => d.includes("holt-trash")).length,
      0,
      "nothing destroyed",
    );
  }

  const history = JSON.parse(lab.holt(["history", "--json", "--limit", "100"]).stdout) as {
    applies: { status: string }[];
  };
  assert.equal(history.applies.filter((a) => a.status === "interrupted").length, steps - 1);
});

test("a second concurrent apply fails at once, naming the first", async () => {
  const p = pool.name;
  reset(p);
  const many = Array.from({ length: 40 }, (_, i) => `"${p}/bulk${i}": { atime: "off" },`).join(
    "\n",
  );
  lab.write(`import { defineLab } from "holt";
export default defineLab({ domain: "crash.example.com", name: "${p.replaceAll("_", "-")}", hosts: { box: { connect: "local", datasets: { ${many} } } } });
`);
  const first = lab.holtAsync(["apply", "--yes", "--parallelism", "1"]);
  const deadline = Date.now() + 30_000;
  while (!first.stderr().includes("Applying") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(first.stderr().includes("Applying"), first.stderr());
  const started = Date.now();
  const second = lab.holt(["apply", "--yes"]);
  const elapsed = Date.now() - started;
  assert.equal(second.code, 1);
  assert.match(second.stderr, /HOLT_E_LOCKED/);
  assert.match(second.stderr, new RegExp(`pid ${first.child.pid}`));
  assert.match(second.stderr, /holt apply --yes --parallelism 1/);
  assert.ok(elapsed < 5000, `failed at once (${elapsed} ms)`);
  const done = await first.done;
  assert.equal(done.code, 0, done.stderr);
  assert.equal(datasetsUnder(p).filter((d) => d.includes("/bulk")).length, 40);
});
