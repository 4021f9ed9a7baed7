import assert from "node:assert/strict";
import { test } from "node:test";
import type { ResolvedBackupPolicy, ResolvedKeep } from "../config/types.ts";
import { decideRetention } from "../model/retention.ts";
import { judgeRestoreMark, oldestKept, type RestoreMark } from "./run.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NONE: ResolvedKeep = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };
const NOW = new Date("2026-12-08T10:00:00Z");

function policyOf(
  snapshots: Partial<ResolvedKeep>,
  replica?: Partial<ResolvedKeep>,
  offsite?: Partial<ResolvedKeep>,
): ResolvedBackupPolicy {
  return {
    name: "p",
    snapshots: { ...NONE, ...snapshots },
    replica:
      replica === undefined
        ? null
        : { host: "nas", dataset: "backup/holt", keep: { ...NONE, ...replica } },
    offsite: offsite === undefined ? null : { repository: "b2", keep: { ...NONE, ...offsite } },
  };
}

test("oldestKept: the longest reach of any copy's keep, plus a month; last counts as days", () => {
  const rows: [string, ResolvedBackupPolicy, number][] = [
    ["hours", policyOf({ hourly: 24 }), 24 * HOUR],
    [
      "the default keep: 12 months",
      policyOf({ hourly: 24, daily: 30, weekly: 8, monthly: 12 }),
      12 * 31 * DAY,
    ],
    ["years", policyOf({ daily: 7, yearly: 5 }), 5 * 366 * DAY],
    ["last alone, as days", policyOf({ last: 60 }), 60 * DAY],
    ["last beside a longer kind", policyOf({ last: 3, weekly: 4 }), 28 * DAY],
    [
      "the replica's keep reaches furthest",
      policyOf({ hourly: 24 }, { monthly: 24 }),
      24 * 31 * DAY,
    ],
    [
      "the offsite keep reaches furthest",
      policyOf({ hourly: 24 }, { daily: 90 }, { yearly: 3 }),
      3 * 366 * DAY,
    ],
  ];
  for (const [name, policy, reach] of rows) {
    assert.equal(oldestKept(policy, NOW).getTime(), NOW.getTime() - reach - 31 * DAY, name);
  }
});

test("oldestKept: no copy keeps a snapshot older than it, on an hourly or a daily schedule", () => {
  const rows: [string, number, number, Partial<ResolvedKeep>[]][] = [
    ["hourly", HOUR, 45, [{ hourly: 24, daily: 30 }, { last: 60 }, { last: 500 }]],
    [
      "daily",
      DAY,
      5 * 365,
      [
        { hourly: 24, daily: 30, weekly: 8, monthly: 12 },
        { last: 60 },
        { last: 500 },
        { last: 2, yearly: 3 },
        { weekly: 30, monthly: 3 },
        { daily: 400 },
      ],
    ],
  ];
  for (const [schedule, every, days, keeps] of rows) {
    // A snapshot every period for `days` days, up to NOW: every period has one, as oldestKept assumes.
    const count = Math.floor((days * DAY) / every);
    const snaps = Array.from({ length: count }, (_, i) => ({
      name: `s${i}`,
      createdMs: NOW.getTime() - i * every,
      holt: true,
      held: false,
    }));
    for (const keep of keeps) {
      const decision = decideRetention(snaps, { ...NONE, ...keep });
      const oldest = Math.min(
        ...[...decision.keep.keys()].map((n) => snaps[Number(n.slice(1))]?.createdMs ?? Number.NaN),
      );
      const bound = oldestKept(policyOf({ hourly: 1 }, keep), NOW).getTime();
      assert.ok(
        oldest >= bound,
        `${schedule}, ${JSON.stringify(keep)}: keeps ${new Date(oldest).toISOString()}, manifests go before ${new Date(bound).toISOString()}`,
      );
    }
  }
});

const cases: [string, number | null, string, string, RestoreMark][] = [
  [
    "no dataset carries the mark",
    0,
    "tank/holt/app\t-\ntank/holt/app/db\t-\n",
    "",
    { kind: "none" },
  ],
  [
    "an entry marked by a restore",
    0,
    "tank/holt/app\t-\ntank/holt/app/db\tlocal\n",
    "",
    { kind: "marked", dataset: "tank/holt/app/db" },
  ],
  [
    "inherited from a marked parent: the parent is named",
    0,
    "tank/holt/app\tlocal\ntank/holt/app/db\tinherited from tank/holt/app\n",
    "",
    { kind: "marked", dataset: "tank/holt/app" },
  ],
  [
    "only a snapshot holds it (the safety snapshot taken while marked)",
    0,
    "tank/holt/app/db\t-\ntank/holt/app/db@restore-safety-1\tlocal\n",
    "",
    { kind: "none" },
  ],
  [
    "the root does not exist: no mark (the snapshot fails on its own)",
    1,
    "",
    "cannot open 'tank/holt/app': dataset does not exist\n",
    { kind: "none" },
  ],
  [
    "zfs failed otherwise: not known, so no snapshot",
    1,
    "",
    "internal error: Input/output error\n",
    { kind: "unknown", why: "internal error: Input/output error" },
  ],
  ["zfs killed", null, "", "", { kind: "unknown", why: "killed by a signal" }],
];

for (const [name, code, stdout, stderr, expected] of cases) {
  test(`judgeRestoreMark: ${name}`, () => {
    assert.deepEqual(judgeRestoreMark(code, stdout, stderr), expected);
  });
}
