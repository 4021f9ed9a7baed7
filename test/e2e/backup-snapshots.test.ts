/**
 * holt's snapshots on a real zfs-fuse pool: one consistent snapshot across a
 * service's datasets, marked as the lab's; listing with creation times,
 * holds and marks; destroying only the lab's unheld snapshots.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  destroySnapshot,
  listSnapshots,
  snapshotName,
  takeSnapshot,
} from "../../src/backup/zfs-snapshots.ts";
import { createLocalExec } from "../../src/hosts/local-exec.ts";
import { decideRetention } from "../../src/model/retention.ts";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import { zfs } from "./harness.ts";

let pool: TestPool;
const exec = createLocalExec();
const LAB = "snaplab";

before(async () => {
  pool = await createTestPool();
  zfs("create", "-p", `${pool.name}/holt/app/data`);
  zfs("create", `${pool.name}/holt/app/config`);
});

after(async () => {
  await pool?.destroy();
});

test("one snapshot across the service's datasets, marked; foreign and held ones are told apart", async () => {
  const root = `${pool.name}/holt/app`;
  const name = snapshotName(new Date(Date.UTC(2026, 10, 26, 8, 0, 0)));
  assert.equal(name, "holt-20261126T080000Z");
  const { made } = await takeSnapshot(exec, root, name, LAB);
  assert.deepEqual(
    made.sort(),
    [`${root}/config@${name}`, `${root}/data@${name}`, `${root}@${name}`].sort(),
  );
  zfs("snapshot", `${root}/data@by-hand`);
  zfs("snapshot", `${root}/data@holt-20200101T000000Z`); // holt's prefix, no mark: not holt's
  zfs("hold", "holt-test", `${root}/config@${name}`);
  const list = await listSnapshots(exec, root, LAB);
  const view = list
    .map((s) => `${s.dataset.slice(root.length) || "/"}@${s.name} holt=${s.holt} held=${s.held}`)
    .sort();
  assert.deepEqual(
    view,
    [
      `/@${name} holt=true held=false`,
      `/config@${name} holt=true held=true`,
      `/data@by-hand holt=false held=false`,
      `/data@holt-20200101T000000Z holt=false held=false`,
      `/data@${name} holt=true held=false`,
    ].sort(),
  );
  // holt's go by the time in their name (the same on every copy); others by their creation.
  assert.ok(
    list.every((s) =>
      s.holt
        ? s.createdMs === Date.UTC(2026, 10, 26, 8, 0, 0)
        : Math.abs(s.createdMs - Date.now()) < 10 * 60_000,
    ),
    "times from names for holt's, creation for the others",
  );

  const held = list.find((s) => s.held);
  const foreign = list.find((s) => s.name === "by-hand");
  assert.ok(held !== undefined && foreign !== undefined);
  await assert.rejects(destroySnapshot(exec, held), /it is held/);
  await assert.rejects(destroySnapshot(exec, foreign), /not holt's/);

  // Retention over the data dataset: the policy keeps its newest; nothing of someone else's goes.
  const second = await takeSnapshot(exec, root, "holt-20261126T090000Z", LAB);
  assert.equal(second.made.length, 3);
  const data = (await listSnapshots(exec, root, LAB)).filter((s) => s.dataset === `${root}/data`);
  const decision = decideRetention(data, {
    last: 0,
    hourly: 1,
    daily: 0,
    weekly: 0,
    monthly: 0,
    yearly: 0,
  });
  for (const name of decision.prune) {
    const snap = data.find((s) => s.name === name);
    assert.ok(snap !== undefined);
    await destroySnapshot(exec, snap);
  }
  const left = (await listSnapshots(exec, root, LAB))
    .filter((s) => s.dataset === `${root}/data`)
    .map((s) => s.name)
    .sort();
  assert.deepEqual(left, ["by-hand", "holt-20200101T000000Z", "holt-20261126T090000Z"]);
  zfs("release", "holt-test", `${root}/config@${name}`);
});
