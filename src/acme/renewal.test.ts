import assert from "node:assert/strict";
import { test } from "node:test";
import { chosenAriTime, renewalDue, renewalTime } from "./renewal.ts";

const DAY = 86_400_000;
const issued = new Date("2026-01-01T00:00:00Z");
const info = {
  notBefore: issued,
  notAfter: new Date(issued.getTime() + 90 * DAY),
  serial: "0a1b2c",
};
const at = (days: number): Date => new Date(issued.getTime() + days * DAY);

test("without ARI, renewal is due once a third of the lifetime is left (day 60 of 90)", () => {
  assert.deepEqual(renewalTime(info), { at: at(60), reason: "lifetime" });
  assert.equal(renewalDue(info, at(59.99)), false);
  assert.equal(renewalDue(info, at(60)), true);
  assert.equal(renewalDue(info, at(100)), true);
});

test("an ARI window earlier than day 60 wins, at a time inside it chosen by the serial", () => {
  const window = { start: at(30), end: at(32) };
  const time = renewalTime(info, window);
  assert.equal(time.reason, "ari");
  assert.ok(time.at >= window.start && time.at <= window.end);
  assert.deepEqual(chosenAriTime(info, window), time.at, "stable for one certificate");
  assert.equal(renewalDue(info, at(29.99), window), false);
  assert.equal(renewalDue(info, at(32), window), true);
});

test("the chosen time spreads across serials", () => {
  const window = { start: at(30), end: at(32) };
  const times = new Set(
    ["01", "02", "03", "04", "05"].map((serial) => chosenAriTime({ serial }, window).getTime()),
  );
  assert.ok(times.size >= 4);
});

test("an ARI window later than day 60 does not postpone renewal", () => {
  const window = { start: at(70), end: at(72) };
  assert.deepEqual(renewalTime(info, window), { at: at(60), reason: "lifetime" });
});

test("an ARI window in the past makes renewal due now (revocation ahead)", () => {
  const window = { start: at(1), end: at(1) };
  assert.equal(renewalDue(info, at(2), window), true);
});
