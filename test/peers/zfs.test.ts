import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { createTestPool, ensureZfsFuse, listPools, type TestPool } from "./zfs.ts";

const execFileAsync = promisify(execFile);
const zfs = (...args: string[]) => execFileAsync("zfs", args, { env: sbinPath() });

function sbinPath(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin` };
}

const pools: TestPool[] = [];
before(() => ensureZfsFuse());
after(() => Promise.all(pools.map((pool) => pool.destroy())));

test("pools created in parallel get different names and work", async () => {
  const created = await Promise.all([createTestPool(), createTestPool({ sizeMb: 128 })]);
  pools.push(...created);
  const [a, b] = created;
  assert.ok(a && b);
  assert.notEqual(a.name, b.name);
  assert.match(a.name, /^holtt\d+_\d+$/);
  assert.notEqual(a.imagePath, b.imagePath);

  const image = await stat(b.imagePath);
  assert.equal(image.size, 128 * 1024 * 1024);
  assert.ok(image.blocks * 512 < image.size, "the image file is sparse");

  const names = await listPools();
  assert.ok(names.includes(a.name) && names.includes(b.name), `zpool list: ${names.join(" ")}`);

  for (const pool of created) {
    await zfs("create", `${pool.name}/a`);
    const { stdout } = await zfs("list", "-H", "-o", "name", "-r", pool.name);
    assert.deepEqual(stdout.trim().split("\n"), [pool.name, `${pool.name}/a`]);
  }

  await Promise.all(created.map((pool) => pool.destroy()));
  const left = await listPools();
  assert.ok(!left.includes(a.name) && !left.includes(b.name), `zpool list: ${left.join(" ")}`);
});

test("destroy deletes the image too, and a second destroy is a no-op", async () => {
  const pool = await createTestPool({ prefix: "holtt" });
  pools.push(pool);
  await zfs("create", `${pool.name}/a`);
  await pool.destroy();
  await pool.destroy();
  assert.ok(!(await listPools()).includes(pool.name));
  await assert.rejects(stat(pool.imagePath), { code: "ENOENT" });
});

test("rejects pool names zpool would refuse", async () => {
  await assert.rejects(createTestPool({ prefix: "1abc" }), /prefix/);
  await assert.rejects(createTestPool({ prefix: "a/b" }), /prefix/);
  await assert.rejects(createTestPool({ sizeMb: 16 }), /at least 64/);
});
