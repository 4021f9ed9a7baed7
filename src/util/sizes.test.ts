import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSize, parseSize } from "./sizes.ts";

test("parseSize reads ZFS notation and bytes", () => {
  assert.equal(parseSize("20G"), 20 * 1024 ** 3);
  assert.equal(parseSize("1M"), 1048576);
  assert.equal(parseSize("512k"), 524288);
  assert.equal(parseSize("1.5T"), 1.5 * 1024 ** 4);
  assert.equal(parseSize("2GiB"), 2 * 1024 ** 3);
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize("4096"), 4096);
});

test("parseSize rejects what is not a size", () => {
  for (const bad of ["20 GB", "", "G", "-1G", "1X", " 1G", "1e3", "lots"]) {
    assert.equal(parseSize(bad), null, bad);
  }
  assert.equal(parseSize(-5), null);
  assert.equal(parseSize(1.5), null);
});

test("formatSize prints the shortest exact unit", () => {
  assert.equal(formatSize(1048576), "1M");
  assert.equal(formatSize(20 * 1024 ** 3), "20G");
  assert.equal(formatSize(1536), "1.5K");
  assert.equal(formatSize(100), "100B");
  assert.equal(formatSize(0), "0");
});
