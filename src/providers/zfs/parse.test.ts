import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { HoltError } from "../../errors.ts";
import { compressionUnsupported, poolCapabilities, recordsizeUnsupported } from "./capabilities.ts";
import { parseZfsGet, parseZpoolGet } from "./parse.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

// zfs-fuse files were captured on this project's test machine (pool version 23);
// the OpenZFS 2.2 files follow its output format (feature-flag pool, version "-").
test("parseZfsGet reads captured zfs-fuse output and skips snapshots", () => {
  const datasets = parseZfsGet(fixture("zfs-fuse-0.7-zfs-get.txt"));
  assert.deepEqual([...datasets.keys()], ["tank/media", "tank/media/photos"]);
  assert.deepEqual(datasets.get("tank/media")?.get("holt:managed"), {
    value: "home",
    source: "local",
  });
  assert.deepEqual(datasets.get("tank/media/photos")?.get("holt:managed"), {
    value: "home",
    source: "inherited from tank/media",
  });
  assert.deepEqual(datasets.get("tank/media")?.get("compression"), {
    value: "gzip",
    source: "local",
  });
  assert.equal(datasets.get("tank/media")?.get("used")?.value, "237568");
});

test("parseZfsGet reads OpenZFS 2.x output", () => {
  const datasets = parseZfsGet(fixture("openzfs-2.2-zfs-get.txt"));
  const media = datasets.get("tank/media");
  assert.deepEqual(media?.get("recordsize"), { value: "1048576", source: "local" });
  assert.deepEqual(media?.get("compression"), { value: "zstd", source: "local" });
  assert.deepEqual(media?.get("xattr"), { value: "sa", source: "inherited from tank" });
  assert.deepEqual(media?.get("com.example:owner"), { value: "ciaran", source: "local" });
  assert.equal(
    datasets.get("tank/media/photos")?.get("holt:managed")?.source,
    "inherited from tank/media",
  );
});

test("parseZfsGet rejects output it does not understand, saying where", () => {
  assert.throws(
    () => parseZfsGet("tank\tused\t1\t-\ntank used 1 -\n"),
    (error: unknown) =>
      error instanceof HoltError && error.code === "HOLT_E_ZFS" && /line 2/.test(error.message),
  );
});

test("zfs-fuse pools: version 23, no lz4, zstd or large blocks", () => {
  const pools = parseZpoolGet(fixture("zfs-fuse-0.7-zpool-get.txt"));
  const props = pools.get("tank");
  assert.ok(props !== undefined);
  const caps = poolCapabilities("tank", props);
  assert.equal(caps.version, 23);
  assert.equal(caps.features.size, 0);
  assert.match(compressionUnsupported("zstd", caps) ?? "", /version 23/);
  assert.match(compressionUnsupported("lz4", caps) ?? "", /version 23/);
  assert.equal(compressionUnsupported("gzip-9", caps), null);
  assert.equal(compressionUnsupported("on", caps), null);
  assert.match(recordsizeUnsupported(1048576, caps) ?? "", /128K/);
  assert.equal(recordsizeUnsupported(131072, caps), null);
});

test("OpenZFS 2.x pools: feature flags enable lz4, zstd and large blocks", () => {
  const props = parseZpoolGet(fixture("openzfs-2.2-zpool-get.txt")).get("tank");
  assert.ok(props !== undefined);
  const caps = poolCapabilities("tank", props);
  assert.equal(caps.version, 5000);
  assert.ok(caps.features.has("zstd_compress"));
  assert.ok(!caps.features.has("draid"), "disabled features do not count");
  assert.equal(compressionUnsupported("zstd-3", caps), null);
  assert.equal(compressionUnsupported("lz4", caps), null);
  assert.equal(recordsizeUnsupported(1048576, caps), null);
  const withoutZstd = poolCapabilities(
    "tank",
    new Map([...props].filter(([k]) => k !== "feature@zstd_compress")),
  );
  assert.match(compressionUnsupported("zstd", withoutZstd) ?? "", /zpool upgrade tank/);
});
