import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BackupCatalog, type CatalogEntry } from "./backup-catalog.ts";

const entry = (over: Partial<CatalogEntry>): CatalogEntry => ({
  kind: "replica",
  subject: "box:tank/holt/app/data",
  service: "app",
  snapshot: "holt-20261126T080000Z",
  target: "nas:backup/holt/app/data",
  at: "2026-11-26T08:00:05.000Z",
  ok: true,
  bytes: 1000,
  seconds: 0.5,
  error: null,
  ...over,
});

test("the newest step of a kind, and the newest that succeeded, per subject; kept across opens", () => {
  const dir = mkdtempSync(join(tmpdir(), "holt-catalog-"));
  try {
    const catalog = new BackupCatalog(dir);
    catalog.record(entry({}));
    catalog.record(entry({ at: "2026-11-26T09:00:05.000Z", ok: false, error: "pool full" }));
    catalog.record(entry({ kind: "offsite", target: "b2" }));
    catalog.close();
    const again = new BackupCatalog(dir);
    const replica = again.latest("box:tank/holt/app/data", "replica");
    assert.equal(replica.last?.error, "pool full");
    assert.equal(replica.last?.ok, false);
    assert.equal(replica.lastOk?.at, "2026-11-26T08:00:05.000Z");
    assert.equal(again.latest("box:tank/holt/app/data", "offsite").lastOk?.target, "b2");
    assert.deepEqual(again.latest("box:other", "replica"), { last: null, lastOk: null });
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("manifests: one body per distinct content, the newest by name, forgotten by age", () => {
  const dir = mkdtempSync(join(tmpdir(), "holt-catalog-"));
  try {
    const catalog = new BackupCatalog(dir);
    const subject = "box:tank/holt/app/data";
    catalog.saveManifest(subject, "holt-20261101T000000Z", '[["a","f"]]');
    catalog.saveManifest(subject, "holt-20261102T000000Z", '[["a","f"]]');
    catalog.saveManifest(subject, "holt-20261103T000000Z", '[["b","f"]]');
    assert.equal(catalog.loadManifest(subject), '[["b","f"]]', "the newest");
    assert.equal(catalog.loadManifest(subject, "holt-20261101T000000Z"), '[["a","f"]]');
    assert.equal(catalog.loadManifest(subject, "holt-20991101T000000Z"), null);
    assert.equal(catalog.loadManifest("box:other"), null);
    catalog.forgetManifests(subject, "holt-20261102T000000Z");
    assert.equal(catalog.loadManifest(subject, "holt-20261101T000000Z"), null);
    assert.equal(catalog.loadManifest(subject, "holt-20261102T000000Z"), '[["a","f"]]');
    catalog.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
