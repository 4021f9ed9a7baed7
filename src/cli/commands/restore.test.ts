import assert from "node:assert/strict";
import { test } from "node:test";
import { HoltError } from "../../errors.ts";
import { parseTime } from "./restore.ts";

const now = new Date("2026-11-26T12:00:00Z");

test("--at takes ISO times (UTC unless they say), dates (their end) and spans ago", () => {
  assert.equal(parseTime("2026-11-26T08:00Z", now).toISOString(), "2026-11-26T08:00:00.000Z");
  assert.equal(parseTime("2026-11-26T08:00", now).toISOString(), "2026-11-26T08:00:00.000Z");
  assert.equal(parseTime("2026-11-26 08:00", now).toISOString(), "2026-11-26T08:00:00.000Z");
  assert.equal(parseTime("2026-11-26T08:00+01:00", now).toISOString(), "2026-11-26T07:00:00.000Z");
  assert.equal(parseTime("2026-11-25", now).toISOString(), "2026-11-25T23:59:59.000Z");
  assert.equal(parseTime("6h", now).toISOString(), "2026-11-26T06:00:00.000Z");
  assert.equal(parseTime("2d ago", now).toISOString(), "2026-11-24T12:00:00.000Z");
  assert.equal(parseTime("30m", now).toISOString(), "2026-11-26T11:30:00.000Z");
});

test("anything else is a usage error that says what is accepted", () => {
  for (const bad of ["yesterday", "6", "2026-13-45", "h6"]) {
    assert.throws(
      () => parseTime(bad, now),
      (e: unknown) =>
        e instanceof HoltError && e.code === "HOLT_E_USAGE" && /30m, 6h, 2d, 1w/.test(e.message),
      bad,
    );
  }
});
