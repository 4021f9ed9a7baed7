/**
 * Which file system a local repository's path is on, as `readPlace` reads it
 * with the real findmnt, on real mounts (tmpfs, as root): file systems
 * stacked on one mount point (an automount's trigger and the share over it),
 * a symlink in the path to another file system, a share not mounted under a
 * mount point that exists; and what `decidePlace` makes of each against the
 * file system recorded while the share was there.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  decidePlace,
  type RepositoryRecord,
  type RepositoryRef,
  readPlace,
} from "../../src/backup/repository.ts";
import { createLocalExec } from "../../src/hosts/local-exec.ts";

const exec = createLocalExec();
const mounted: string[] = [];
let dir: string;
let share: string;

function run(argv: string[]): void {
  const r = spawnSync(argv[0] ?? "", argv.slice(1), { encoding: "utf8" });
  assert.equal(r.status, 0, `${argv.join(" ")}: ${r.stderr}`);
}

/** A tmpfs with a name of this test's own (the source findmnt shows) at `path`. */
function mountTmpfs(source: string, path: string): void {
  run(["mount", "-t", "tmpfs", "-o", "size=1m", source, path]);
  mounted.push(path);
}

function unmountTop(path: string): void {
  run(["umount", path]);
  mounted.splice(mounted.lastIndexOf(path), 1);
}

const stamp = `${process.pid}-${Date.now().toString(36)}`;
const ref = (restic: string): RepositoryRef => ({
  name: "vault",
  restic,
  password: "restic",
  host: "box",
});

before(() => {
  dir = mkdtempSync(join(tmpdir(), "holt-place-"));
  share = join(dir, "nas");
  mkdirSync(share);
});

after(() => {
  for (const path of mounted.reverse()) spawnSync("umount", [path]);
  rmSync(dir, { recursive: true, force: true });
});

test("file systems stacked on one mount point: the path is on the top one, and is refused once it is gone", async () => {
  // An automount's trigger at the mount point, the share mounted over it.
  mountTmpfs(`holt-trigger-${stamp}`, share);
  mountTmpfs(`holt-share-${stamp}`, share);
  const repo = join(share, "restic");
  mkdirSync(repo);
  const place = await readPlace(exec, repo);
  assert.equal(place.exists, true);
  assert.equal(place.fileSystem.source, `holt-share-${stamp}`, "the share, not what it covers");
  const record: RepositoryRecord = {
    repository: "vault",
    host: "box",
    location: "-",
    fileSystem: place.fileSystem,
    since: "2026-03-01T10:00:00.000Z",
    how: "init",
  };
  assert.equal(decidePlace(ref(repo), place, record).kind, "go");
  // The share goes away; a folder of the same name is on the trigger below.
  unmountTop(share);
  mkdirSync(repo);
  const below = await readPlace(exec, repo);
  assert.equal(below.fileSystem.source, `holt-trigger-${stamp}`);
  const d = decidePlace(ref(repo), below, record);
  assert.equal(d.kind, "refuse");
  assert.match(
    d.kind === "refuse" ? d.message : "",
    new RegExp(`is on tmpfs holt-trigger-${stamp}`),
  );
  unmountTop(share);
});

test("a symlink in the path is followed to the file system it points at", async () => {
  const disk = join(dir, "disk");
  mkdirSync(disk);
  mountTmpfs(`holt-disk-${stamp}`, disk);
  mkdirSync(join(disk, "restic"));
  const link = join(dir, "backups");
  symlinkSync(disk, link);
  const place = await readPlace(exec, join(link, "restic"));
  assert.deepEqual(
    { exists: place.exists, source: place.fileSystem.source },
    { exists: true, source: `holt-disk-${stamp}` },
  );
  // The disk unmounted: the link's target is an empty folder, the path is not there.
  unmountTop(disk);
  const gone = await readPlace(exec, join(link, "restic"));
  assert.equal(gone.exists, false);
  assert.notEqual(gone.fileSystem.source, `holt-disk-${stamp}`);
});

test("a share not mounted under a mount point that exists: the path is missing, on the parent's file system", async () => {
  const mountPoint = join(dir, "usb");
  mkdirSync(mountPoint);
  const place = await readPlace(exec, join(mountPoint, "restic"));
  assert.equal(place.exists, false);
  const root = await readPlace(exec, dir);
  assert.deepEqual(place.fileSystem, root.fileSystem);
  assert.equal(decidePlace(ref(join(mountPoint, "restic")), place, null).kind, "refuse");
});
