import assert from "node:assert/strict";
import { test } from "node:test";
import { PollTimeout, pollUntil } from "./poll.ts";

test("reads until settled", async () => {
  let reads = 0;
  const value = await pollUntil(
    async () => ++reads,
    (n) => n === 3,
    5000,
  );
  assert.equal(value, 3);
});

test("gives up with PollTimeout after the deadline", async () => {
  const started = performance.now();
  await assert.rejects(
    pollUntil(
      async () => "pending",
      (status) => status !== "pending",
      250,
    ),
    PollTimeout,
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 1000, `${elapsed} ms`);
});

test("an aborted signal stops the polling at once", async () => {
  const controller = new AbortController();
  const started = performance.now();
  const polling = pollUntil(
    async () => "pending",
    (status) => status !== "pending",
    60_000,
    controller.signal,
  );
  setTimeout(() => controller.abort(new Error("a sibling failed")), 50);
  await assert.rejects(polling, /a sibling failed/);
  assert.ok(performance.now() - started < 1000);
});
