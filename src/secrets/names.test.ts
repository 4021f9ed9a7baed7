import assert from "node:assert/strict";
import { test } from "node:test";
import { HoltError } from "../errors.ts";
import { checkSecretName, isSecretName } from "./names.ts";

test("secret names: lower-case letters, digits, . _ -, first a letter or digit, at most 63", () => {
  for (const name of [
    "a",
    "0",
    "jellyfin-api-key",
    "db.password",
    "smtp_user",
    "a".repeat(63),
    "1-2.3_4",
  ]) {
    assert.ok(isSecretName(name), name);
    assert.doesNotThrow(() => checkSecretName(name));
  }
  const bad = [
    "",
    "A",
    "Jellyfin",
    "-a",
    ".a",
    "_a",
    "a b",
    "a/b",
    "a:b",
    "é",
    "a".repeat(64),
    "a\n",
  ];
  for (const name of bad) assert.ok(!isSecretName(name), JSON.stringify(name));
});

test("a bad name is a HOLT_E_SECRETS error that quotes it and shows the rule", () => {
  assert.throws(
    () => checkSecretName("API_KEY"),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_SECRETS" &&
      error.message ===
        '"API_KEY" is not a valid secret name. Use 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit, like "jellyfin-api-key".',
  );
  assert.throws(() => checkSecretName("x".repeat(200)), /"x{70}…" is not a valid/);
});
