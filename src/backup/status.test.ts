import assert from "node:assert/strict";
import { test } from "node:test";
import type { ResolvedKeep } from "../config/types.ts";
import { newestSnapshotProblem, staleAfterMs } from "./status.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NONE: ResolvedKeep = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };

test("staleAfterMs: twice the shortest period a keep counts; last alone counts as daily", () => {
  const rows: [Partial<ResolvedKeep>, number][] = [
    [{ hourly: 24, daily: 30, yearly: 5 }, 2 * HOUR],
    [{ daily: 7, monthly: 12 }, 2 * DAY],
    [{ weekly: 4 }, 14 * DAY],
    [{ monthly: 12, yearly: 3 }, 62 * DAY],
    [{ yearly: 10 }, 2 * 366 * DAY],
    [{ last: 3 }, 2 * DAY],
    [{ last: 1, yearly: 2 }, 2 * 366 * DAY],
  ];
  for (const [counts, expected] of rows) {
    assert.equal(staleAfterMs({ ...NONE, ...counts }), expected, JSON.stringify(counts));
  }
});

test("newestSnapshotProblem: stale past the keep's limit; dated ahead of the clock is a problem of its own", () => {
  const now = Date.parse("2026-12-08T10:00:00Z");
  const rows: [string, number, number | null, RegExp | null][] = [
    ["fresh", now - HOUR, 2 * HOUR, null],
    ["stale", now - 3 * HOUR, 2 * HOUR, /^local snapshots are stale: the newest is 3h old$/],
    ["no limit (no policy)", now - 300 * DAY, null, null],
    ["a minute ahead: clocks differ a little", now + 60_000, 2 * HOUR, null],
    // A snapshot named a year ahead would otherwise read as fresh for a year, whatever happens.
    [
      "a year ahead",
      now + 365 * DAY,
      2 * HOUR,
      /^the newest local snapshot is dated 365d ahead of/,
    ],
    ["ahead, without a limit", now + 2 * DAY, null, /dated 2d ahead of this machine's clock/],
  ];
  for (const [name, newest, stale, expected] of rows) {
    const problem = newestSnapshotProblem(newest, now, stale);
    if (expected === null) assert.equal(problem, null, name);
    else assert.match(problem ?? "", expected, name);
  }
});
