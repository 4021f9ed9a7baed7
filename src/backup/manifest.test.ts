import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeManifest,
  encodeManifest,
  type Manifest,
  type ManifestEntry,
  manifestDifferences,
  manifestSize,
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
