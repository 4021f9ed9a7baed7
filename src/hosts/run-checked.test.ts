import assert from "node:assert/strict";
import { test } from "node:test";
import { HoltError } from "../errors.ts";
import type { Exec, ExecRequest } from "./exec.ts";
import { type ExecOutcome, runChecked, runRetrying } from "./run-checked.ts";

function fakeExec(
  outcome: Partial<ExecOutcome> | ((request: ExecRequest) => Partial<ExecOutcome>),
): Exec & { requests: ExecRequest[] } {
  const requests: ExecRequest[] = [];
  return {
    target: "root@nas:22",
    requests,
    async run(request) {
      requests.push(request);
      const answer = typeof outcome === "function" ? outcome(request) : outcome;
      return { stdout: "", stderr: "", code: 0, signal: null, ...answer };
    },
    async start() {
      throw new Error("not used by this test");
    },
    async http() {
      throw new Error("no HTTP in this test");
    },
    async close() {},
  };
}

async function failure(outcome: Partial<ExecOutcome>, request: ExecRequest): Promise<HoltError> {
  try {
    await runChecked(fakeExec(outcome), request);
  } catch (error) {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_EXEC");
    return error;
  }
  assert.fail("runChecked did not throw");
}

test("returns the result when the program succeeds", async () => {
  const exec = fakeExec({ stdout: "tank\n" });
  const result = await runChecked(exec, { argv: ["zpool", "list"], stdin: "x" });
  assert.equal(result.stdout, "tank\n");
  assert.deepEqual(exec.requests, [{ argv: ["zpool", "list"], stdin: "x" }]);
});

test("names the target, the quoted command and the exit code", async () => {
  const error = await failure({ code: 1 }, { argv: ["zfs", "create", "tank/my data"] });
  assert.equal(
    error.message,
    "Command on root@nas:22 exited with code 1: zfs create 'tank/my data'",
  );
});

test("explains 127 and 126", async () => {
  const notFound = await failure({ code: 127 }, { argv: ["zfs"] });
  assert.match(notFound.message, /exited with code 127 \(command not found\)/);
  const notExecutable = await failure({ code: 126 }, { argv: ["./x"] });
  assert.match(notExecutable.message, /exited with code 126 \(not executable\)/);
});

test("explains a signal", async () => {
  const error = await failure({ code: null, signal: "SIGKILL" }, { argv: ["sleep", "9"] });
  assert.match(error.message, /was killed by SIGKILL/);
});

test("explains a timeout with the limit that applied", async () => {
  const outcome = { code: null, signal: "SIGKILL", timedOut: true };
  const error = await failure(outcome, { argv: ["sleep", "9"], timeoutMs: 50 });
  assert.match(error.message, /timed out after 50 ms and was killed with SIGKILL/);
  const byDefault = await failure(outcome, { argv: ["sleep", "9"] });
  assert.match(byDefault.message, /timed out after 120000 ms/);
});

test("details hold the last ten non-empty stderr lines", async () => {
  const lines = Array.from({ length: 14 }, (_, i) => `line ${i + 1}`);
  const stderr = `${lines.slice(0, 7).join("\n")}\n\n   \r\n${lines.slice(7).join("\r\n")}\n\n`;
  const error = await failure({ code: 2, stderr }, { argv: ["x"] });
  assert.deepEqual(error.details, lines.slice(4));
});

test("details are empty when stderr says nothing", async () => {
  const error = await failure({ code: 2, stderr: "\n \n" }, { argv: ["x"] });
  assert.deepEqual(error.details, []);
});

test("shortens enormous command lines", async () => {
  const error = await failure({ code: 1 }, { argv: ["echo", "a".repeat(5000)] });
  assert.ok(error.message.length < 700);
  assert.ok(error.message.endsWith("…"));
});

test("runRetrying: again while the answer matches, with `between` before each retry; anything else at once", async () => {
  let renames = 0;
  const exec = fakeExec((request) => {
    if (request.argv[1] !== "rename") return {};
    renames += 1;
    return renames < 3 ? { code: 1, stderr: "cannot rename: dataset is busy\n" } : {};
  });
  const options = { retryIf: /busy/, budgetMs: 5_000, between: ["zfs", "unmount", "t/a"] };
  const done = await runRetrying(exec, { argv: ["zfs", "rename", "t/a", "t/b"] }, options);
  assert.equal(done.code, 0);
  assert.deepEqual(
    exec.requests.map((r) => r.argv[1]),
    ["rename", "unmount", "rename", "unmount", "rename"],
  );
  const other = fakeExec({ code: 1, stderr: "no such pool\n" });
  const failed = await runRetrying(other, { argv: ["zfs", "rename", "x", "y"] }, options);
  assert.equal(failed.code, 1);
  assert.equal(other.requests.length, 1, "an answer that does not match is final");
  const stuck = fakeExec({ code: 1, stderr: "dataset is busy\n" });
  const gaveUp = await runRetrying(
    stuck,
    { argv: ["zfs", "destroy", "x"] },
    { retryIf: /busy/, budgetMs: 50 },
  );
  assert.equal(gaveUp.code, 1);
  assert.equal(stuck.requests.length, 2, "past the budget, the last answer is returned");
});
