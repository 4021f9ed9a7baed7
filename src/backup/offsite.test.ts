import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ResolvedRepository } from "../config/types.ts";
import type { Exec } from "../hosts/exec.ts";
import { createLocalExec } from "../hosts/local-exec.ts";
import { resticOn } from "./offsite.ts";

/**
 * `resticOn` on this machine, with `restic` a script that prints the environment it was given,
 * started as if on a host whose own zone is Europe/Berlin (a session's TZ, which holt's own
 * environment never reaches over SSH).
 */
function resticEnv(repository: ResolvedRepository): Promise<Map<string, string>> {
  const bin = mkdtempSync(join(tmpdir(), "holt-restic-env-"));
  writeFileSync(join(bin, "restic"), "#!/bin/sh\nenv\n");
  chmodSync(join(bin, "restic"), 0o755);
  const local = createLocalExec();
  const inBerlin: Exec = {
    ...local,
    run: (request) =>
      local.run({
        ...request,
        argv: ["env", "TZ=Europe/Berlin", `PATH=${bin}:${process.env.PATH}`, ...request.argv],
      }),
  };
  const restic = resticOn(inBerlin, repository, (name) => `value of ${name}`);
  return restic(["snapshots"])
    .then((r) => {
      assert.equal(r.code, 0, r.stderr);
      return new Map(
        r.stdout
          .split("\n")
          .filter((l) => l.includes("="))
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
    })
    .finally(() => rmSync(bin, { recursive: true, force: true }));
}

test("resticOn: restic runs in UTC whatever the host's zone, with the repository's variables", async () => {
  const env = await resticEnv({
    name: "b2",
    restic: "s3:https://s3.example.com/bucket",
    password: "restic",
    env: { AWS_ACCESS_KEY_ID: { secret: "b2-id" }, AWS_DEFAULT_REGION: { value: "eu-central-1" } },
  });
  assert.equal(env.get("TZ"), "UTC");
  assert.equal(env.get("RESTIC_REPOSITORY"), "s3:https://s3.example.com/bucket");
  assert.equal(env.get("RESTIC_PASSWORD"), "value of restic");
  assert.equal(env.get("AWS_ACCESS_KEY_ID"), "value of b2-id");
  assert.equal(env.get("AWS_DEFAULT_REGION"), "eu-central-1");
});

test("resticOn: a TZ in a repository's env (which the config refuses) does not displace UTC", async () => {
  const env = await resticEnv({
    name: "b2",
    restic: "/srv/restic",
    password: "restic",
    env: { TZ: { value: "America/New_York" } },
  });
  assert.equal(env.get("TZ"), "UTC");
});

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
