/**
 * `holt backup run` through the CLI on a real zfs-fuse pool, under a test
 * clock (HOLT_TEST_NOW): one snapshot per service across its datasets each
 * run, pruning by each entry's policy, `backup: false` entries keeping none,
 * a stalled schedule never leaving fewer than the policy keeps,
 * snapshots made by hand never touched, and one run of a lab at a time.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import { createLabFolder, type LabFolder, zfs } from "./harness.ts";

let pool: TestPool;
let folder: LabFolder;
const lab = `bk${process.pid}`;
const HOUR = 3_600_000;
const START = Date.UTC(2026, 10, 1, 0, 0, 0);

function config(): string {
  return `import { defineLab } from "holt";
export default defineLab({
  domain: "lab.example.com",
  name: "${lab}",
  hosts: { box: { connect: "local", stateRoot: "${pool.name}/holt" } },
  backups: { policies: { tight: { snapshots: { hourly: 3, daily: 2 } } } },
  services: {
    app: {
      host: "box",
      state: {
        data: { path: "/data", backup: "tight" },
        cache: { path: "/cache", backup: false },
      },
    },
  },
});
`;
}

function runAt(ms: number) {
  return folder.holt(["backup", "run", "--json"], { HOLT_TEST_NOW: new Date(ms).toISOString() });
}

function snapshots(dataset: string): string[] {
  return zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset)
    .split("\n")
    .filter((l) => l.startsWith(`${dataset}@`))
    .map((l) => l.slice(dataset.length + 1))
    .sort();
}

before(async () => {
  pool = await createTestPool();
  folder = createLabFolder();
  folder.write(config());
  const r = folder.holt(["apply", "--yes"]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await pool?.destroy();
  folder?.remove();
});

test("each run snapshots the service; retention keeps what the policy says, even after a stall", () => {
  const data = `${pool.name}/holt/app/data`;
  const cache = `${pool.name}/holt/app/cache`;
  zfs("snapshot", `${data}@by-hand`);
  // 50 hourly runs.
  for (let h = 0; h < 50; h++) {
    const r = runAt(START + h * HOUR);
    assert.equal(r.code, 0, r.stderr);
  }
  const kept = snapshots(data);
  // hourly 3 (h47, h48, h49) + daily 2 (the last of Nov 3 = h49, of Nov 2 = h47): 3, plus by-hand.
  assert.deepEqual(kept, [
    "by-hand",
    "holt-20261102T230000Z",
    "holt-20261103T000000Z",
    "holt-20261103T010000Z",
  ]);
  assert.deepEqual(snapshots(cache), [], "backup: false keeps none");
  assert.deepEqual(
    snapshots(`${pool.name}/holt/app`).filter((n) => n.startsWith("holt-")),
    kept.filter((n) => n.startsWith("holt-")),
    "the service root keeps what its entries keep",
  );

  // The schedule stalls for 20 days, then one run: still 3 hourly (the 3 newest hours that have
  // one) and 2 daily (Nov 23, Nov 3) kept; nothing is dropped for being old.
  const late = runAt(START + (50 + 20 * 24) * HOUR);
  assert.equal(late.code, 0, late.stderr);
  const afterStall = snapshots(data).filter((n) => n.startsWith("holt-"));
  assert.deepEqual(afterStall, [
    "holt-20261103T000000Z",
    "holt-20261103T010000Z",
    "holt-20261123T020000Z",
  ]);
  assert.ok(snapshots(data).includes("by-hand"));

  // A rerun for the same time is a no-op, not an error.
  assert.equal(runAt(START + (50 + 20 * 24) * HOUR).code, 0);
  const json = JSON.parse(runAt(START + (51 + 20 * 24) * HOUR).stdout) as {
    services: { service: string; snapshot: string; pruned: string[] }[];
  };
  assert.equal(json.services[0]?.snapshot, "holt-20261123T030000Z");
});

test("holt backup status: the newest snapshot per dataset and the 3-2-1 verdict", () => {
  const r = folder.holt(["backup", "status", "--json"]);
  assert.equal(r.code, 2, "exit 2: not everything is 3-2-1");
  const rows = (
    JSON.parse(r.stdout) as {
      datasets: {
        dataset: string;
        policy: string | null;
        newest: { name: string } | null;
        verdict: string;
      }[];
    }
  ).datasets;
  assert.deepEqual(
    rows.map((x) => [
      x.dataset.slice(pool.name.length + 1),
      x.policy,
      x.newest?.name ?? null,
      x.verdict,
    ]),
    [
      [
        "holt/app/data",
        "tight",
        "holt-20261123T030000Z",
        "1 copy (no replica on another machine, no offsite copy)",
      ],
      ["holt/app/cache", null, null, "not backed up (backup: false)"],
    ],
  );
});

test("holt plan names the datasets short of 3-2-1 on stderr, and those left out by choice", () => {
  const r = folder.holt(["plan", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  JSON.parse(r.stdout); // stdout stays the plan alone
  assert.match(
    r.stderr,
    /Backups: 1 state dataset is short of 3-2-1 .*: app\/data \(1 copy \(no replica on another machine, no offsite copy\)\)/,
  );
  assert.match(r.stderr, /Not backed up, by choice \(backup: false\): app\/cache\./);
});

test("services backed up at once on a pool holt has not used yet share one scratch parent", () => {
  // Four services, backed up four at a time, each needing <pool>/holt-manifest and
  // <pool>/holt-manifest/<lab> (made with `zfs create -p`, which fails for the one that finds the
  // other's level made half-way) on its first run. Three times, to meet that.
  const services = ["s1", "s2", "s3", "s4"];
  folder.write(
    config().replace(
      "  services: {\n",
      `  services: {\n${services.map((s) => `    ${s}: { host: "box", state: { data: { path: "/data" } } },\n`).join("")}`,
    ),
  );
  const applied = folder.holt(["apply", "--yes"]);
  assert.equal(applied.code, 0, applied.stderr);
  for (let round = 0; round < 3; round++) {
    zfs("destroy", "-r", `${pool.name}/holt-manifest`);
    const r = runAt(START + (2000 + round) * HOUR);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.doesNotMatch(r.stdout + r.stderr, /no checksum manifest/);
    const json = JSON.parse(r.stdout) as { services: { service: string }[] };
    assert.deepEqual(json.services.map((s) => s.service).sort(), ["app", ...services]);
  }
});

test("two backup runs at once: the second fails at once, naming the first, which goes on", async () => {
  const lock = join(folder.stateDir, lab, "backup.lock");
  const first = folder.holtAsync(["backup", "run", "--json"], {
    HOLT_TEST_NOW: new Date(START + 3000 * HOUR).toISOString(),
  });
  const pid = first.child.pid ?? 0;
  // Frozen once it holds the lock, so the second surely starts while the first runs.
  const deadline = Date.now() + 30_000;
  while (!existsSync(lock) && first.child.exitCode === null && Date.now() < deadline) {
    await sleep(2);
  }
  assert.ok(existsSync(lock), `the first run took the lock\n${first.stderr()}`);
  process.kill(pid, "SIGSTOP");
  try {
    const started = Date.now();
    const second = runAt(START + 3000 * HOUR);
    assert.equal(second.code, 1, second.stdout + second.stderr);
    assert.match(second.stderr, /HOLT_E_LOCKED/);
    assert.match(second.stderr, /Another backup operation is running for this lab/);
    assert.match(second.stderr, new RegExp(`\`holt backup run --json\` \\(pid ${pid} on `));
    assert.ok(Date.now() - started < 10_000, "it did not wait");
    assert.equal(second.stdout, "", "and did nothing");
  } finally {
    process.kill(pid, "SIGCONT");
  }
  const done = await first.done;
  assert.equal(done.code, 0, done.stderr);
  const json = JSON.parse(done.stdout) as { services: { snapshot: string | null }[] };
  assert.ok(json.services.every((s) => s.snapshot === "holt-20270306T000000Z"));
  assert.ok(!existsSync(lock), "released");
});

test("two backup runs started together: one snapshot each time, never two runs at once", async () => {
  for (let round = 1; round <= 3; round++) {
    const env = { HOLT_TEST_NOW: new Date(START + (3000 + round) * HOUR).toISOString() };
    const both = [
      folder.holtAsync(["backup", "run", "--json"], env),
      folder.holtAsync(["backup", "run", "--json"], env),
    ];
    const results = await Promise.all(both.map((b) => b.done));
    const ok = results.filter((r) => r.code === 0);
    assert.ok(ok.length >= 1, results.map((r) => r.stderr).join("\n"));
    for (const [i, r] of results.entries()) {
      if (r.code === 0) continue;
      // The loser names the winner; otherwise the winner had finished before it looked.
      assert.match(r.stderr, /HOLT_E_LOCKED/, r.stderr);
      assert.match(r.stderr, new RegExp(`pid ${both[1 - i]?.child.pid} `));
    }
    assert.ok(!existsSync(join(folder.stateDir, lab, "backup.lock")));
  }
});
