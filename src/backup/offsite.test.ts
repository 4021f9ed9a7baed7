import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createLocalExec } from "../hosts/local-exec.ts";
import { resticOn } from "./offsite.ts";

test("what restic says comes back without the repository's secrets, even when it quotes one", async () => {
  // A real restic: it warns that it cannot use its cache folder, naming the folder, which
  // here is a secret of the repository's env (as a credential in an endpoint could be).
  const dir = mkdtempSync(join(tmpdir(), "holt-restic-"));
  const secrets: Record<string, string> = {
    password: "pw-0b9d2c41e7f3",
    cache: "/proc/holt-cache-5e1a77c0d2",
  };
  try {
    const restic = resticOn(
      createLocalExec(),
      {
        name: "vault",
        restic: join(dir, "repo"),
        password: "password",
        env: { RESTIC_CACHE_DIR: { secret: "cache" } },
      },
      (name) => secrets[name] ?? "",
    );
    const init = await restic(["init"]);
    assert.equal(init.code, 0, init.stderr);
    const listed = await restic(["snapshots"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stderr, /unable to open cache: mkdir \(secret\): /);
    for (const r of [init, listed]) {
      for (const value of Object.values(secrets)) {
        assert.ok(!(r.stdout + r.stderr).includes(value), r.stderr);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
