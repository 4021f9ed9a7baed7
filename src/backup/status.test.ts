import assert from "node:assert/strict";
import { test } from "node:test";
import type { ResolvedKeep } from "../config/types.ts";
import { staleAfterMs } from "./status.ts";

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
