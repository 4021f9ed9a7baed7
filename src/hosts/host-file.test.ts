import assert from "node:assert/strict";
import {
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writePrivateHostFile } from "./host-file.ts";
import { createLocalExec } from "./local-exec.ts";

const SECRET = "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n";
const exec = createLocalExec();
const me = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;

function folder(): { dir: string; path: string; temporary: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "holt-host-file-"));
  return {
    dir,
    path: join(dir, "a.key"),
    temporary: join(dir, ".a.key.holt-new"),
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

test("a private file: written whole, with its mode, and no temporary file left", async () => {
  const f = folder();
  try {
    await writePrivateHostFile(exec, f.path, f.temporary, SECRET, { mode: "0640", owner: me });
    assert.equal(readFileSync(f.path, "utf8"), SECRET);
    assert.equal((lstatSync(f.path).mode & 0o777).toString(8), "640");
    await writePrivateHostFile(exec, f.path, f.temporary, "second\n", { mode: "0600", owner: me });
    assert.equal(readFileSync(f.path, "utf8"), "second\n");
    assert.equal((lstatSync(f.path).mode & 0o777).toString(8), "600");
    assert.deepEqual(readdirSync(f.dir), ["a.key"]);
  } finally {
    f.done();
  }
});

test("a symbolic link planted at the temporary name: its target never gets the secret", async () => {
  const f = folder();
  try {
    const target = join(f.dir, "elsewhere");
    writeFileSync(target, "theirs\n", { mode: 0o644 });
    symlinkSync(target, f.temporary);
    await writePrivateHostFile(exec, f.path, f.temporary, SECRET, { mode: "0600", owner: me });
    assert.equal(readFileSync(target, "utf8"), "theirs\n");
    assert.equal((lstatSync(target).mode & 0o777).toString(8), "644");
    assert.ok(lstatSync(f.path).isFile());
    assert.equal(readFileSync(f.path, "utf8"), SECRET);
  } finally {
    f.done();
  }
});

test("a temporary file left by a cut-off write and still held open: the reader never sees the new secret", async () => {
  const f = folder();
  try {
    writeFileSync(f.temporary, "old\n", { mode: 0o644 });
    const held = openSync(f.temporary, "r");
    try {
      await writePrivateHostFile(exec, f.path, f.temporary, SECRET, { mode: "0600", owner: me });
      const buffer = Buffer.alloc(200);
      const read = readSync(held, buffer, 0, buffer.length, 0);
      assert.equal(buffer.subarray(0, read).toString(), "old\n");
    } finally {
      closeSync(held);
    }
    assert.equal(readFileSync(f.path, "utf8"), SECRET);
  } finally {
    f.done();
  }
});

test("a folder in the file's place: the write fails and puts nothing into it", async () => {
  const f = folder();
  try {
    mkdirSync(f.path);
    await assert.rejects(
      writePrivateHostFile(exec, f.path, f.temporary, SECRET, { mode: "0600", owner: me }),
      /HOLT_E_EXEC|exited with code/,
    );
    assert.deepEqual(readdirSync(f.path), []);
  } finally {
    f.done();
  }
});

test("input cut short (holt gone mid-way): the file in place is left as it was", async () => {
  const f = folder();
  try {
    writeFileSync(f.path, "whole\n");
    // What the script does when its stdin ends early: run it with part of the content.
    const cut = createLocalExec();
    const partial: typeof exec = {
      ...cut,
      run: (request) => cut.run({ ...request, stdin: request.stdin?.slice(0, 10) }),
    };
    await assert.rejects(
      writePrivateHostFile(partial, f.path, f.temporary, SECRET, { mode: "0600", owner: me }),
      (error: Error) => /input cut short/.test(JSON.stringify(error)),
    );
    assert.equal(readFileSync(f.path, "utf8"), "whole\n");
  } finally {
    f.done();
  }
});
