import assert from "node:assert/strict";
import { test } from "node:test";
import { childEnv } from "./child-env.ts";

test("childEnv: everything but the age key, and the given environment stays as it was", () => {
  const env = { HOLT_AGE_KEY: "AGE-SECRET-KEY-1X", HOLT_AGE_KEY_FILE: "/k", PATH: "/bin", A: "b" };
  assert.deepEqual(childEnv(env), { HOLT_AGE_KEY_FILE: "/k", PATH: "/bin", A: "b" });
  assert.equal(env.HOLT_AGE_KEY, "AGE-SECRET-KEY-1X");
});
