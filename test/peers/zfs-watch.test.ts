// The watchdog's decisions, with stand-in probes: stalling the machine's one zfs-fuse daemon
// for real would stall every other test running beside this one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { watchZfsFuse, type ZfsFuseProbes } from "./zfs-watch.ts";

// As in real use (2 s samples, a probe every 15 s), several samples fall between two probes.
const timing = { sampleMs: 10, stallMs: 150, probeEveryMs: 80 };

interface Fake extends ZfsFuseProbes {
  pid: number | undefined;
  count: number | null | undefined;
  waiting: string[];
  listHangs: boolean;
}

function fake(): Fake {
  const probes: Fake = {
    pid: 4242,
    count: 100,
    waiting: [],
    listHangs: false,
    daemon: () => probes.pid,
    calls: () => probes.count,
    waiters: () => probes.waiting,
    listAnswers: async (timeoutMs) => {
      if (!probes.listHangs) return true;
      await sleep(timeoutMs);
      return false;
    },
  };
  return probes;
}

function record(probes: Fake, onStall?: () => Promise<void>) {
  const reasons: string[] = [];
  const watch = watchZfsFuse(
    async (reason) => {
      reasons.push(reason);
      await onStall?.();
    },
    probes,
    timing,
  );
  return { reasons, watch };
}

test("stand-in probes: a waiter while the daemon handles nothing is a stall, named in the reason", async () => {
  const probes = fake();
  probes.waiting = ["pid 42 (find) in request_wait_answer"];
  const { reasons, watch } = record(probes, () => sleep(1000));
  await sleep(400);
  watch.stop();
  assert.equal(reasons.length, 1, "reported once, while the first report is being handled");
  assert.match(reasons[0] ?? "", /handled nothing while pid 42 \(find\) in request_wait_answer/);
});

test("stand-in probes: waiters while the daemon works, or a quiet daemon nobody waits on, are no stall", async () => {
  const busy = fake();
  busy.waiting = ["pid 7 (cp) in request_wait_answer"];
  const moving = setInterval(() => {
    busy.count = (busy.count ?? 0) + 2;
  }, 5);
  const idle = fake();
  const unreadable = fake();
  unreadable.count = undefined;
  unreadable.waiting = ["pid 8 (ls) in fuse_get_req"];
  const watches = [record(busy), record(idle), record(unreadable)];
  await sleep(500);
  clearInterval(moving);
  for (const { reasons, watch } of watches) {
    watch.stop();
    assert.deepEqual(reasons, []);
  }
});

test("stand-in probes: `zfs list` not answering is a stall", async () => {
  const probes = fake();
  probes.listHangs = true;
  const { reasons, watch } = record(probes, () => sleep(1000));
  await sleep(400);
  watch.stop();
  assert.deepEqual(reasons, ["`zfs list` did not answer within 0.15 s"]);
});

test("stand-in probes: `zfs list` waiting behind a daemon that keeps working is no stall", async () => {
  const probes = fake();
  probes.listHangs = true;
  const moving = setInterval(() => {
    probes.count = (probes.count ?? 0) + 2;
  }, 5);
  const { reasons, watch } = record(probes, () => sleep(1000));
  await sleep(400);
  watch.stop();
  clearInterval(moving);
  assert.deepEqual(reasons, []);
});

test("stand-in probes: after the restart the watch starts over and can report the next stall", async () => {
  const probes = fake();
  probes.waiting = ["pid 9 (zfs) in request_wait_answer"];
  const { reasons, watch } = record(probes, async () => {
    // The "restart": the daemon works again for a while, then stalls once more.
    probes.waiting = [];
    await sleep(50);
    probes.waiting = ["pid 10 (zfs) in request_wait_answer"];
  });
  await sleep(700);
  watch.stop();
  assert.ok(reasons.length >= 2, `reports: ${reasons.join(" | ")}`);
  assert.match(reasons[1] ?? "", /pid 10/);
});

test("stand-in probes: no daemon running is no stall", async () => {
  const probes = fake();
  probes.pid = undefined;
  probes.count = null;
  probes.waiting = ["pid 11 (ls) in request_wait_answer"];
  probes.listHangs = true;
  const { reasons, watch } = record(probes);
  await sleep(400);
  watch.stop();
  assert.deepEqual(reasons, []);
});

test("stand-in probes: a daemon that exits is reported once, and watched again after the restart", async () => {
  const probes = fake();
  const { reasons, watch } = record(probes, async () => {
    probes.pid = 5000;
    probes.count = 1;
  });
  await sleep(50);
  probes.pid = undefined;
  probes.count = null;
  await sleep(300);
  watch.stop();
  assert.deepEqual(reasons, ["its daemon (pid 4242) exited"]);
});

test("stand-in probes: a daemon replaced by another (started again by a test) is reported", async () => {
  const probes = fake();
  const { reasons, watch } = record(probes);
  await sleep(50);
  probes.pid = 4343;
  await sleep(100);
  watch.stop();
  assert.deepEqual(reasons, ["its daemon (pid 4242) exited and another (pid 4343) was started"]);
});

test("stand-in probes: a daemon that answers only the watch's own `zfs list` while a waiter waits is a stall", async () => {
  // As seen in CI: the FUSE side deadlocked, the ioctl side still answering.
  const probes = fake();
  probes.waiting = ["pid 12 (zfs) in fuse_get_req"];
  probes.listAnswers = async () => {
    probes.count = (probes.count ?? 0) + 7;
    return true;
  };
  const { reasons, watch } = record(probes);
  await sleep(400);
  watch.stop();
  assert.ok(reasons.length >= 1, "reported");
  assert.match(reasons[0] ?? "", /daemon handled nothing while pid 12/);
});
