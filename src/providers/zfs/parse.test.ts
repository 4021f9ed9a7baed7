import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { HoltError } from "../../errors.ts";
import { zfsGetOrder } from "../../util/zfs-get.ts";
import { compressionUnsupported, poolCapabilities, recordsizeUnsupported } from "./capabilities.ts";
import { parseZfsGet, parseZpoolGet } from "./parse.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

/**
 * What the provider asks for (READ_PROPERTIES), with the one user property the fixtures set,
 * in zfsGetOrder's order (`mounted` last).
 */
const PROPS = [
  ..."recordsize,compression,quota,refquota,reservation,refreservation,atime,mountpoint,canmount,readonly,exec,setuid,devices,copies,xattr,snapdir,casesensitivity,used".split(
    ",",
  ),
  "holt:managed",
  "holt:service",
  "holt:props",
  "com.example:owner",
  "mounted",
];

/** A value another tool set on a dataset that is not holt's: a tab and line breaks in it. */
const FOREIGN = "first line\n\tsecond line\twith a tab\n";

// The zfs-fuse file was captured on this project's test machine (pool version 23) from
// `zfs get -H -p -o name,property,source,value PROPS` on a test pool renamed "tank";
// the OpenZFS 2.2 file follows its output format (every property asked for, "-" when unset).
test("parseZfsGet reads captured zfs-fuse output, skips snapshots, and keeps a value's tabs and line breaks", () => {
  const datasets = parseZfsGet(fixture("zfs-fuse-0.7-zfs-get.txt"), PROPS, "box");
  assert.deepEqual([...datasets.keys()], ["tank", "tank/media", "tank/media/photos", "tank/other"]);
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
  assert.deepEqual(datasets.get("tank/other")?.get("com.example:owner"), {
    value: FOREIGN,
    source: "local",
  });
  assert.deepEqual(datasets.get("tank/other")?.get("holt:managed"), { value: "-", source: "-" });
});

test("parseZfsGet reads OpenZFS 2.x output", () => {
  const datasets = parseZfsGet(fixture("openzfs-2.2-zfs-get.txt"), PROPS, "box");
  const media = datasets.get("tank/media");
  assert.deepEqual(media?.get("recordsize"), { value: "1048576", source: "local" });
  assert.deepEqual(media?.get("compression"), { value: "zstd", source: "local" });
  assert.deepEqual(media?.get("xattr"), { value: "sa", source: "inherited from tank" });
  assert.deepEqual(media?.get("com.example:owner"), { value: "ciaran", source: "local" });
  assert.equal(
    datasets.get("tank/media/photos")?.get("holt:managed")?.source,
    "inherited from tank/media",
  );
  assert.equal(datasets.get("tank/other")?.get("com.example:owner")?.value, FOREIGN);
  assert.equal(datasets.get("tank/other")?.get("mounted")?.value, "yes");
});

test("zfsGetOrder asks last for a property whose value never holds a line break", () => {
  assert.deepEqual(zfsGetOrder(["used", "holt:managed", "com.x:y"]), [
    "holt:managed",
    "com.x:y",
    "used",
  ]);
  assert.deepEqual(zfsGetOrder(["creation", "userrefs", "guid", "holt:managed"]), [
    "creation",
    "userrefs",
    "holt:managed",
    "guid",
  ]);
  assert.deepEqual(zfsGetOrder(["readonly", "holt:replica"]), ["readonly", "holt:replica", "guid"]);
  assert.deepEqual(zfsGetOrder(["com.x:y", "mounted"]), ["com.x:y", "mounted"]);
  assert.throws(() => parseZfsGet("", ["used", "com.x:y"], "box"), /zfsGetOrder/);
});

test("parseZfsGet refuses output it cannot read unambiguously, saying where", () => {
  const ASKED = ["holt:managed", "com.x:y", "used"];
  const rejects = (output: string, pattern: RegExp) =>
    assert.throws(
      () => parseZfsGet(output, ASKED, "root@nas:22"),
      (error: unknown) =>
        error instanceof HoltError &&
        error.code === "HOLT_E_ZFS" &&
        error.message.includes("on root@nas:22") &&
        pattern.test(error.message),
    );
  // A first line that is no record.
  rejects("tank used 1 -\n", /line 1 is not a record/);
  const block = (name: string, owner = "-", y = "-\t-") =>
    `${name}\tholt:managed\t-\t${owner}\n${name}\tcom.x:y\t${y}\n${name}\tused\t-\t1\n`;
  // A value made to hold a record of the dataset it belongs to (holt:managed, forged).
  rejects(
    block("tank/a", "-", "local\tx\ntank/a\tholt:managed\tlocal\tlab") + block("tank/b"),
    /line 3 gives "holt:managed" of "tank\/a" out of order or twice/,
  );
  // A value made to hold the rest of its own dataset and a dataset printed after it.
  rejects(
    block("tank/a", "-", `local\tx\ntank/a\tused\t-\t1\n${block("tank/b", "lab").trimEnd()}`) +
      block("tank/b"),
    /line 7 is about "tank\/a" again/,
  );
  rejects(block("tank/a") + block("tank/b") + block("tank/a"), /line 7 is about "tank\/a" again/);
  // A made-up dataset needs every property, in order: one forged line is not enough.
  rejects(
    block(
      "tank/a",
      "-",
      "local\tx\ntank/ghost\tholt:managed\tlocal\tlab\ntank/ghost\tcom.x:y\t-\t-",
    ),
    /"tank\/a" has 2 of the 3 properties asked for, by line 2/,
  );
  // Nor is every line of one: a value is never asked for last, so the made-up dataset
  // starts before the one it hides in has all its properties. (Had com.x:y been asked for
  // last, these lines would have read as a dataset of the lab's that does not exist.)
  rejects(
    block("tank/a", "-", `local\tx\n${block("tank/ghost", "lab").trimEnd()}`),
    /"tank\/a" has 2 of the 3 properties asked for, by line 2/,
  );
  // A line break in a value alone is no problem, nor a line that is not shaped like a record.
  assert.deepEqual(
    parseZfsGet(block("tank/a", "-", "local\tx\n\ty\ntank/a\tquota\t-\t0\n"), ASKED, "box")
      .get("tank/a")
      ?.get("com.x:y"),
    { value: "x\n\ty\ntank/a\tquota\t-\t0\n", source: "local" },
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
