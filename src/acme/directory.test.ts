import assert from "node:assert/strict";
import { test } from "node:test";
import { HoltError } from "../errors.ts";
import { resolveDirectoryUrl } from "./directory.ts";

test("the Let's Encrypt aliases resolve to their directories", () => {
  assert.equal(
    resolveDirectoryUrl("letsencrypt"),
    "https://acme-v02.api.letsencrypt.org/directory",
  );
  assert.equal(
    resolveDirectoryUrl("letsencrypt-staging"),
    "https://acme-staging-v02.api.letsencrypt.org/directory",
  );
});

test("an https URL is taken as it is", () => {
  assert.equal(resolveDirectoryUrl("https://127.0.0.1:14000/dir"), "https://127.0.0.1:14000/dir");
});

test("anything else is HOLT_E_ACME naming the value and the choices", () => {
  for (const bad of ["http://ca.test/dir", "lets-encrypt", "", "toString"]) {
    assert.throws(
      () => resolveDirectoryUrl(bad),
      (error: unknown) =>
        error instanceof HoltError &&
        error.code === "HOLT_E_ACME" &&
        error.message.includes(JSON.stringify(bad)) &&
        error.message.includes('"letsencrypt-staging"'),
    );
  }
});
