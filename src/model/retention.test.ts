import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decideRetention,
  RETENTION_KINDS,
  type RetentionPolicy,
  resticKeepFlags,
  type SnapshotInfo,
} from "./retention.ts";

const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1, 0, 30); // a Thursday

/** A policy from its non-zero counts, as the config resolves one. */
function policy(counts: Partial<RetentionPolicy>): RetentionPolicy {
  return { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, ...counts };
}

function hourly(fromHour: number, count: number): SnapshotInfo[] {
  return Array.from({ length: count }, (_, i) => {
    const ms = START + (fromHour + i) * HOUR;
    return { name: `holt-${new Date(ms).toISOString()}`, createdMs: ms, holt: true, held: false };
  });
}

/** holt's snapshots at these UTC times, named by them. */
function at(...times: string[]): SnapshotInfo[] {
  return times.map((t) => ({ name: t, createdMs: Date.parse(t), holt: true, held: false }));
}

function kinds(decision: ReturnType<typeof decideRetention>) {
  const count = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };
  for (const reasons of decision.keep.values()) {
    for (const r of reasons) if (r in count) count[r as keyof typeof count]++;
  }
  return count;
}

test("keeps the newest per period, as many periods as the policy says", () => {
  const snaps = hourly(0, 72);
  const d = decideRetention(snaps, policy({ hourly: 24, daily: 2, weekly: 1, monthly: 1 }));
  assert.deepEqual(kinds(d), { last: 0, hourly: 24, daily: 2, weekly: 1, monthly: 1, yearly: 0 });
  // 24 newest hours, plus the last snapshot of the day before them; the rest goes.
  assert.equal(d.keep.size, 25);
  assert.equal(d.prune.length, 72 - 25);
  assert.ok(d.keep.get(snaps[71]?.name ?? "")?.includes("newest"));
});

// Each row: UTC times, a policy, and what it keeps with the reasons (the rest is pruned).
const TABLE: {
  name: string;
  times: string[];
  policy: Partial<RetentionPolicy>;
  keep: Record<string, string[]>;
}[] = [
  {
    name: "yearly: the newest of each year that has one; a year without one does not count",
    times: [
      "2023-06-01T12:00:00Z",
      "2023-12-31T23:30:00Z",
      "2024-01-01T00:30:00Z",
      "2024-07-01T12:00:00Z",
      "2026-03-01T12:00:00Z",
    ],
    policy: { yearly: 3 },
    keep: {
      "2026-03-01T12:00:00Z": ["newest", "yearly"],
      "2024-07-01T12:00:00Z": ["yearly"],
      "2023-12-31T23:30:00Z": ["yearly"],
    },
  },
  {
    name: "yearly: years are UTC years, cut at UTC midnight",
    times: ["2026-12-31T23:30:00Z", "2027-01-01T00:30:00Z"],
    policy: { yearly: 2 },
    keep: {
      "2027-01-01T00:30:00Z": ["newest", "yearly"],
      "2026-12-31T23:30:00Z": ["yearly"],
    },
  },
  {
    name: "yearly and monthly count apart: one snapshot can be the newest of its month and its year",
    times: ["2025-11-15T00:00:00Z", "2025-12-20T00:00:00Z", "2026-01-05T00:00:00Z"],
    policy: { monthly: 2, yearly: 2 },
    keep: {
      "2026-01-05T00:00:00Z": ["newest", "monthly", "yearly"],
      "2025-12-20T00:00:00Z": ["monthly", "yearly"],
    },
  },
  {
    name: "yearly reaches past what the shorter kinds keep",
    times: [
      "2024-05-01T00:00:00Z",
      "2025-02-01T00:00:00Z",
      "2025-09-01T00:00:00Z",
      "2026-10-01T00:00:00Z",
      "2026-10-02T00:00:00Z",
    ],
    policy: { daily: 2, yearly: 3 },
    keep: {
      "2026-10-02T00:00:00Z": ["newest", "daily", "yearly"],
      "2026-10-01T00:00:00Z": ["daily"],
      "2025-09-01T00:00:00Z": ["yearly"],
      "2024-05-01T00:00:00Z": ["yearly"],
    },
  },
  {
    name: "weekly: an ISO week across a year end is one week (Thursday 31 December to Sunday 3 January)",
    times: ["2026-12-27T12:00:00Z", "2026-12-31T12:00:00Z", "2027-01-03T12:00:00Z"],
    policy: { weekly: 2, yearly: 2 },
    keep: {
      "2027-01-03T12:00:00Z": ["newest", "weekly", "yearly"],
      "2026-12-31T12:00:00Z": ["yearly"],
      "2026-12-27T12:00:00Z": ["weekly"],
    },
  },
  {
    name: "weekly: Monday 30 December 2024 starts ISO week 1 of 2025, apart from the Sunday before",
    times: ["2024-12-29T23:30:00Z", "2024-12-30T00:30:00Z", "2025-01-05T23:30:00Z"],
    policy: { weekly: 2 },
    keep: {
      "2025-01-05T23:30:00Z": ["newest", "weekly"],
      "2024-12-29T23:30:00Z": ["weekly"],
    },
  },
  {
    name: "weekly: ISO week 53 of 2020 runs to Sunday 3 January 2021",
    times: ["2020-12-28T00:00:00Z", "2021-01-03T23:59:59Z", "2021-01-04T00:00:00Z"],
    policy: { weekly: 3 },
    keep: {
      "2021-01-04T00:00:00Z": ["newest", "weekly"],
      "2021-01-03T23:59:59Z": ["weekly"],
    },
  },
  {
    name: "a snapshot in the future is simply the newest: no clock decides",
    times: ["2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z", "2099-01-01T00:00:00Z"],
    policy: { hourly: 2 },
    keep: {
      "2099-01-01T00:00:00Z": ["newest", "hourly"],
      "2026-01-01T11:00:00Z": ["hourly"],
    },
  },
  {
    name: "last: the N newest, whatever their times",
    times: ["2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:20:00Z"],
    policy: { last: 2 },
    keep: {
      "2026-01-01T00:20:00Z": ["newest", "last"],
      "2026-01-01T00:10:00Z": ["last"],
    },
  },
  {
    name: "last: 1 keeps only the newest",
    times: ["2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"],
    policy: { last: 1 },
    keep: { "2026-03-01T00:00:00Z": ["newest", "last"] },
  },
  {
    name: "last and hourly count apart: the two newest are in one hour",
    times: ["2026-01-01T08:10:00Z", "2026-01-01T09:10:00Z", "2026-01-01T09:40:00Z"],
    policy: { last: 2, hourly: 2 },
    keep: {
      "2026-01-01T09:40:00Z": ["newest", "last", "hourly"],
      "2026-01-01T09:10:00Z": ["last"],
      "2026-01-01T08:10:00Z": ["hourly"],
    },
  },
  {
    name: "every count 0 keeps everything, as restic forget with no policy (the config refuses it)",
    times: ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-02T00:10:00Z"],
    policy: { hourly: 0 },
    keep: {
      "2026-01-02T00:10:00Z": ["newest", "empty policy"],
      "2026-01-02T00:00:00Z": ["empty policy"],
      "2026-01-01T00:00:00Z": ["empty policy"],
    },
  },
];

for (const row of TABLE) {
  test(`table: ${row.name}`, () => {
    const snaps = at(...row.times);
    const d = decideRetention(snaps, policy(row.policy));
    assert.deepEqual(Object.fromEntries(d.keep), row.keep);
    assert.deepEqual(
      d.prune,
      row.times.filter((t) => row.keep[t] === undefined),
      "the rest is pruned, oldest first",
    );
  });
}

test("equal times: the name decides which is newer, whatever the input order", () => {
  const same = Date.parse("2026-05-05T05:05:05Z");
  const snaps: SnapshotInfo[] = ["holt-a", "holt-c", "holt-b"].map((name) => ({
    name,
    createdMs: same,
    holt: true,
    held: false,
  }));
  for (const order of [snaps, [...snaps].reverse()]) {
    const d = decideRetention(order, policy({ daily: 1, last: 2 }));
    assert.deepEqual(Object.fromEntries(d.keep), {
      "holt-c": ["newest", "last", "daily"],
      "holt-b": ["last"],
    });
    assert.deepEqual(d.prune, ["holt-a"]);
  }
});

test("a stalled snapshotter never makes the policy keep fewer", () => {
  const p = policy({ hourly: 24, daily: 7, weekly: 4, monthly: 2 });
  // 40 days of hourly snapshots, then nothing for 20 days: "now" is not an input at all.
  const snaps = hourly(0, 40 * 24);
  const d = decideRetention(snaps, p);
  assert.deepEqual(kinds(d), { last: 0, hourly: 24, daily: 7, weekly: 4, monthly: 2, yearly: 0 });
  // Pruning what it says, then deciding again, prunes nothing more.
  const left = snaps.filter((s) => !d.prune.includes(s.name));
  assert.deepEqual(decideRetention(left, p).prune, []);
});

test("snapshots holt did not make, and held ones, are never pruned", () => {
  const snaps = [
    ...hourly(0, 10),
    { name: "manual-before-upgrade", createdMs: START - 100 * HOUR, holt: false, held: false },
  ];
  const base = snaps[2];
  assert.ok(base !== undefined);
  const withHold = snaps.map((s) => (s === base ? { ...s, held: true } : s));
  const d = decideRetention(withHold, policy({ hourly: 1 }));
  assert.deepEqual(d.keep.get("manual-before-upgrade"), ["not holt's"]);
  assert.deepEqual(d.keep.get(base.name), ["held"]);
  assert.ok(!d.prune.includes("manual-before-upgrade") && !d.prune.includes(base.name));
  assert.equal(d.prune.length, 8, "10 of holt's minus the newest and the held one");
});

test("random histories over years: each kind keeps min(policy, periods with a snapshot); input order does not matter", () => {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const DAY = 24 * HOUR;
  const periodOf = {
    last: (_ms: number, i: number) => i,
    hourly: (ms: number) => Math.floor(ms / HOUR),
    daily: (ms: number) => Math.floor(ms / DAY),
    weekly: (ms: number) => Math.floor((ms + 3 * DAY) / (7 * DAY)),
    monthly: (ms: number) => new Date(ms).getUTCFullYear() * 12 + new Date(ms).getUTCMonth(),
    yearly: (ms: number) => new Date(ms).getUTCFullYear(),
  } satisfies Record<keyof RetentionPolicy, (ms: number, i: number) => number>;
  for (let round = 0; round < 200; round++) {
    const snaps: SnapshotInfo[] = [];
    let t = START;
    const n = 1 + Math.floor(rand() * 300);
    for (let i = 0; i < n; i++) {
      const gap = rand() < 0.03 ? 400 * 24 : rand() < 0.05 ? 40 * 24 : 6;
      t += Math.floor(rand() * gap * HOUR) + 1000;
      snaps.push({ name: `holt-${i}`, createdMs: t, holt: true, held: false });
    }
    const p = policy({
      last: rand() < 0.3 ? Math.floor(rand() * 5) : 0,
      hourly: Math.floor(rand() * 30),
      daily: Math.floor(rand() * 10),
      weekly: Math.floor(rand() * 6),
      monthly: Math.floor(rand() * 4),
      yearly: Math.floor(rand() * 4),
    });
    const d = decideRetention(snaps, p);
    const expected = Object.fromEntries(
      RETENTION_KINDS.map((kind) => [
        kind,
        Math.min(p[kind], new Set(snaps.map((s, i) => periodOf[kind](s.createdMs, i))).size),
      ]),
    );
    assert.deepEqual(kinds(d), expected, `round ${round}`);
    const shuffled = [...snaps].sort(() => rand() - 0.5);
    assert.deepEqual(decideRetention(shuffled, p).prune, d.prune, `round ${round}: order`);
    assert.equal(d.keep.size + d.prune.length, snaps.length);
  }
});

test("resticKeepFlags: a flag per count above 0, --keep-last at least 1 for the newest, none for an empty policy", () => {
  for (const [counts, flags] of [
    [{ hourly: 2 }, ["--keep-last", "1", "--keep-hourly", "2"]],
    [
      { hourly: 24, daily: 30, weekly: 8, monthly: 12, yearly: 5 },
      [
        "--keep-last",
        "1",
        "--keep-hourly",
        "24",
        "--keep-daily",
        "30",
        "--keep-weekly",
        "8",
        "--keep-monthly",
        "12",
        "--keep-yearly",
        "5",
      ],
    ],
    [{ last: 3, yearly: 1 }, ["--keep-last", "3", "--keep-yearly", "1"]],
    // No flag at all: restic keeps every copy, as decideRetention does.
    [{}, []],
  ] as const) {
    assert.deepEqual(resticKeepFlags(policy(counts)), flags, JSON.stringify(counts));
  }
});
