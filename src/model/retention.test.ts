import assert from "node:assert/strict";
import { test } from "node:test";
import { decideRetention, type RetentionPolicy, type SnapshotInfo } from "./retention.ts";

const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1, 0, 30); // a Thursday

function hourly(fromHour: number, count: number): SnapshotInfo[] {
  return Array.from({ length: count }, (_, i) => {
    const ms = START + (fromHour + i) * HOUR;
    return { name: `holt-${new Date(ms).toISOString()}`, createdMs: ms, holt: true, held: false };
  });
}

function kinds(decision: ReturnType<typeof decideRetention>) {
  const count = { hourly: 0, daily: 0, weekly: 0, monthly: 0 };
  for (const reasons of decision.keep.values()) {
    for (const r of reasons) if (r in count) count[r as keyof typeof count]++;
  }
  return count;
}

test("keeps the newest per period, as many periods as the policy says", () => {
  const snaps = hourly(0, 72);
  const d = decideRetention(snaps, { hourly: 24, daily: 2, weekly: 1, monthly: 1 });
  assert.deepEqual(kinds(d), { hourly: 24, daily: 2, weekly: 1, monthly: 1 });
  // 24 newest hours, plus the last snapshot of the day before them; the rest goes.
  assert.equal(d.keep.size, 25);
  assert.equal(d.prune.length, 72 - 25);
  assert.ok(d.keep.get(snaps[71]?.name ?? "")?.includes("newest"));
});

test("a stalled snapshotter never makes the policy keep fewer", () => {
  const policy: RetentionPolicy = { hourly: 24, daily: 7, weekly: 4, monthly: 2 };
  // 40 days of hourly snapshots, then nothing for 20 days: "now" is not an input at all.
  const snaps = hourly(0, 40 * 24);
  const d = decideRetention(snaps, policy);
  assert.deepEqual(kinds(d), { hourly: 24, daily: 7, weekly: 4, monthly: 2 });
  // Pruning what it says, then deciding again, prunes nothing more.
  const left = snaps.filter((s) => !d.prune.includes(s.name));
  assert.deepEqual(decideRetention(left, policy).prune, []);
});

test("snapshots holt did not make, and held ones, are never pruned", () => {
  const snaps = [
    ...hourly(0, 10),
    { name: "manual-before-upgrade", createdMs: START - 100 * HOUR, holt: false, held: false },
  ];
  const base = snaps[2];
  assert.ok(base !== undefined);
  const withHold = snaps.map((s) => (s === base ? { ...s, held: true } : s));
  const d = decideRetention(withHold, { hourly: 1, daily: 0, weekly: 0, monthly: 0 });
  assert.deepEqual(d.keep.get("manual-before-upgrade"), ["not holt's"]);
  assert.deepEqual(d.keep.get(base.name), ["held"]);
  assert.ok(!d.prune.includes("manual-before-upgrade") && !d.prune.includes(base.name));
  assert.equal(d.prune.length, 8, "10 of holt's minus the newest and the held one");
});

test("random histories: each kind keeps min(policy, periods with a snapshot); input order does not matter", () => {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let round = 0; round < 200; round++) {
    const snaps: SnapshotInfo[] = [];
    let t = START;
    const n = 1 + Math.floor(rand() * 300);
    for (let i = 0; i < n; i++) {
      t += Math.floor(rand() * (rand() < 0.05 ? 40 * 24 : 6) * HOUR) + 1000;
      snaps.push({ name: `holt-${i}`, createdMs: t, holt: true, held: false });
    }
    const policy = {
      hourly: Math.floor(rand() * 30),
      daily: Math.floor(rand() * 10),
      weekly: Math.floor(rand() * 6),
      monthly: Math.floor(rand() * 4),
    };
    const d = decideRetention(snaps, policy);
    const periods = (size: (ms: number) => number) =>
      new Set(snaps.map((s) => size(s.createdMs))).size;
    const expected = {
      hourly: Math.min(
        policy.hourly,
        periods((ms) => Math.floor(ms / HOUR)),
      ),
      daily: Math.min(
        policy.daily,
        periods((ms) => Math.floor(ms / (24 * HOUR))),
      ),
      weekly: Math.min(
        policy.weekly,
        periods((ms) => Math.floor((ms + 3 * 24 * HOUR) / (7 * 24 * HOUR))),
      ),
      monthly: Math.min(
        policy.monthly,
        periods((ms) => new Date(ms).getUTCFullYear() * 12 + new Date(ms).getUTCMonth()),
      ),
    };
    assert.deepEqual(kinds(d), expected, `round ${round}`);
    const shuffled = [...snaps].sort(() => rand() - 0.5);
    assert.deepEqual(decideRetention(shuffled, policy).prune, d.prune, `round ${round}: order`);
    assert.equal(d.keep.size + d.prune.length, snaps.length);
  }
});
