import assert from "node:assert/strict";
import { test } from "node:test";
import { acmeError, describeProblem, hintFor, readProblem, shortProblemType } from "./problem.ts";

test("a problem document is read with its type, detail, status and subproblems", () => {
  const problem = readProblem(
    {
      type: "urn:ietf:params:acme:error:compound",
      detail: "Some identifiers were rejected",
      subproblems: [
        {
          type: "urn:ietf:params:acme:error:caa",
          detail: "CAA forbids issuance",
          identifier: { type: "dns", value: "a.test" },
        },
        { type: "urn:ietf:params:acme:error:malformed", detail: "bad" },
        "junk",
      ],
    },
    403,
  );
  assert.equal(problem.type, "urn:ietf:params:acme:error:compound");
  assert.equal(problem.status, 403);
  assert.deepEqual(problem.subproblems, [
    {
      type: "urn:ietf:params:acme:error:caa",
      detail: "CAA forbids issuance",
      identifier: "a.test",
    },
    { type: "urn:ietf:params:acme:error:malformed", detail: "bad", identifier: null },
  ]);
  assert.equal(
    describeProblem(problem),
    "compound: Some identifiers were rejected (HTTP 403); for a.test: caa: CAA forbids issuance; malformed: bad",
  );
  // A compound problem is hinted by its first subproblem.
  assert.match(hintFor(problem, []), /CAA record/);
});

test("a body that is no problem document still says something, cut short", () => {
  const html = readProblem(`<html>${"x".repeat(1000)}</html>`, 502);
  assert.equal(html.type, "");
  assert.equal(html.detail.length, 301);
  assert.match(describeProblem(html), /^<html>x+… \(HTTP 502\)$/);
  assert.equal(describeProblem(readProblem(undefined, null)), "no detail given");
});

test("types outside the ACME namespace are kept whole", () => {
  assert.equal(shortProblemType("urn:ietf:params:acme:error:dns"), "dns");
  assert.equal(shortProblemType("about:blank"), "about:blank");
});

test("validation hints name the TXT names", () => {
  const problem = readProblem(
    { type: "urn:ietf:params:acme:error:unauthorized", detail: "x" },
    null,
  );
  assert.match(hintFor(problem, ["_acme-challenge.a.test"]), /at _acme-challenge\.a\.test\./);
  assert.match(hintFor(null, []), /Follow the CA's message/);
});

test("HOLT_E_ACME names the directory, the names, the step and what was said", () => {
  const error = acmeError(
    { directoryUrl: "https://ca.test/dir", names: ["a.test", "*.a.test"], txtNames: [] },
    "creating the order",
    "the CA said no",
    "Do this.",
  );
  assert.equal(error.code, "HOLT_E_ACME");
  assert.equal(
    error.message,
    "Could not get a certificate for a.test, *.a.test from https://ca.test/dir while creating the order: the CA said no. Do this.",
  );
});
