import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createLocalExec } from "../hosts/local-exec.ts";
import { MAX_STDOUT_BYTES } from "../hosts/run-checked.ts";
import {
  decodeManifest,
  encodeManifest,
  type Manifest,
  type ManifestEntry,
  manifestDifferences,
  manifestSize,
  readManifest,
} from "./manifest.ts";

const file = (content: string, size = 10, over: Partial<ManifestEntry> = {}): ManifestEntry => ({
  type: "f",
  mode: "644",
  uid: 1000,
  gid: 1000,
  size,
  mtime: "1764000000.5",
  content,
  ...over,
});

const recorded: Manifest = new Map([
  ["a.txt", file("aa")],
  ["dir", { ...file(""), type: "d", size: 0, mode: "755" }],
  ["dir/b with\nnewline", file("bb", 20)],
  ["link", { ...file("a.txt"), type: "l", size: 0 }],
]);

test("a manifest survives its storage form, names with line breaks included", () => {
  assert.deepEqual(decodeManifest(encodeManifest(recorded)), recorded);
  assert.deepEqual(manifestSize(recorded), { files: 2, bytes: 30 });
});

test("equal contents compare equal even when modification times differ", () => {
  const touched = new Map([...recorded].map(([p, e]) => [p, { ...e, mtime: "1" }]));
  assert.deepEqual(manifestDifferences(recorded, touched), []);
});

test("each kind of difference is named, with the path", () => {
  const actual = new Map(recorded);
  actual.delete("dir/b with\nnewline");
  actual.set("a.txt", file("changed"));
  actual.set("link", file("x", 1));
  actual.set("dir", { ...file(""), type: "d", size: 0, mode: "700" });
  actual.set("new.txt", file("n"));
  assert.deepEqual(manifestDifferences(recorded, actual), [
    "a.txt: content differs",
    "dir: mode or owner 700 1000:1000, was 755 1000:1000",
    "missing: dir/b with\nnewline",
    "link: a f, was a l",
    "extra: new.txt",
  ]);
  assert.equal(manifestDifferences(recorded, new Map(), 2).length, 2, "at most max lines");
});

test("a folder whose listing is larger than what a program's output may be in memory is read whole", async () => {
  // Symbolic links with long targets make find's listing pass the 64 MiB output cap
  // quickly; a photo library passes it with half a million files. The manifest is read
  // as it streams, so the cap does not apply to it.
  const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "holt-manifest-"));
  try {
    const target = `/${"t".repeat(3990)}`;
    const links = Math.ceil((MAX_STDOUT_BYTES + 1024 * 1024) / (target.length + 40));
    for (let i = 0; i < links; i++) symlinkSync(`${target}${i}`, join(dir, `l${i}`));
    writeFileSync(join(dir, "a file"), "hello\n");
    writeFileSync(join(dir, "b\nfile"), "");
    const manifest = await readManifest(createLocalExec(), dir);
    assert.equal(manifest.size, links + 2);
    assert.equal(manifest.get(`l${links - 1}`)?.content, `${target}${links - 1}`);
    assert.equal(
      manifest.get("a file")?.content,
      "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
    );
    assert.equal(
      manifest.get("b\nfile")?.content,
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
