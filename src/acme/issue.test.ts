/**
 * What issueCertificate refuses before it talks to any CA. The issuance
 * itself is tested against a real Pebble in test/e2e/acme-pebble.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HoltError } from "../errors.ts";
import { issueCertificate } from "./issue.ts";
import { createAccountKey } from "./keys.ts";
import type { AcmeDnsBackend, IssueRequest } from "./types.ts";

const backend: AcmeDnsBackend = {
  kind: "rfc2136",
  zone: "lab.test",
  addTxt: async () => assert.fail("no TXT may be added"),
  removeTxt: async () => {},
  nameservers: async () => [],
};

function request(overrides: Partial<IssueRequest>): IssueRequest {
  return {
    // Nothing listens here: a request that got this far would fail differently.
    directory: "https://127.0.0.1:1/dir",
    extraCaPem: null,
    accountKeyPem: createAccountKey(),
    email: null,
    names: ["a.lab.test"],
    challenges: { "a.lab.test": { txtName: "_acme-challenge.a.lab.test", backend } },
    waitUntilServed: async () => {},
    ...overrides,
  };
}

test("a name without a challenge target, twice, or in upper case is a caller bug", async () => {
  await assert.rejects(
    issueCertificate(request({ names: ["a.lab.test", "b.lab.test", "a.lab.test", "C.lab.test"] })),
    (error: unknown) => {
      assert.ok(error instanceof HoltError);
      assert.equal(error.code, "HOLT_E_INTERNAL");
      assert.match(error.message, /"b\.lab\.test" has no challenge target/);
      assert.match(error.message, /"a\.lab\.test" is given twice/);
      assert.match(error.message, /"C\.lab\.test" is not lower case/);
      return true;
    },
  );
  await assert.rejects(issueCertificate(request({ names: [] })), /no names/);
});

test("a bad directory or account key is HOLT_E_ACME, and the key is never shown", async () => {
  await assert.rejects(issueCertificate(request({ directory: "http://ca.test/dir" })), {
    code: "HOLT_E_ACME",
  });
  const key = "-----BEGIN EC PRIVATE KEY-----\nNOTAKEY\n-----END EC PRIVATE KEY-----\n";
  await assert.rejects(issueCertificate(request({ accountKeyPem: key })), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_ACME");
    assert.match(error.message, /^The ACME account key is not a PEM private key/);
    assert.doesNotMatch(error.message, /NOTAKEY/);
    return true;
  });
});

test("a CA that cannot be reached is HOLT_E_ACME at once, with the reason", async () => {
  const started = performance.now();
  await assert.rejects(issueCertificate(request({})), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_ACME");
    assert.match(error.message, /from https:\/\/127\.0\.0\.1:1\/dir while registering the account/);
    assert.match(error.message, /ECONNREFUSED/);
    return true;
  });
  assert.ok(performance.now() - started < 2000, "no retries with long delays");
});
