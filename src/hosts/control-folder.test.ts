import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  CONTROL_SOCKET,
  controlRoot,
  createControlFolder,
  type FolderEntry,
  isLeftBehind,
  removeControlFolder,
  removeLeftBehind,
} from "./control-folder.ts";

const scratch = mkdtempSync(join(tmpdir(), "holt-control-folder-"));
const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A real Unix socket at `path`, as ssh leaves one. */
async function socketAt(path: string): Promise<void> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

/** A pid that was just in use and is now gone. */
const gonePid = () => spawnSync("true").pid ?? 0;

let roots = 0;
const newRoot = () => join(scratch, `root-${++roots}`, "ssh");

describe("isLeftBehind: only a marked folder of this user, named for a process that is gone", () => {
  const own = process.getuid?.() ?? 0;
  const dead = (_pid: number) => false;
  const base: FolderEntry = { name: "4242-aB3dEf", isDirectory: true, uid: own, marked: true };
  const cases: readonly [string, FolderEntry, (pid: number) => boolean, boolean][] = [
    ["left behind", base, dead, true],
    ["its process still runs", base, () => true, false],
    ["not a folder (a link or a file)", { ...base, isDirectory: false }, dead, false],
    ["no marker", { ...base, marked: false }, dead, false],
    ["another user's", { ...base, uid: own + 1 }, dead, false],
    ["a name holt does not give", { ...base, name: "4242-abc" }, dead, false],
    ["the old /tmp name", { ...base, name: "holt-ssh-4242-aB3dEf" }, dead, false],
    ["this very process", { ...base, name: `${process.pid}-aB3dEf` }, dead, false],
  ];
  for (const [name, entry, running, expected] of cases) {
    test(name, () => assert.equal(isLeftBehind(entry, own, running), expected));
  }
});

test("controlRoot: $XDG_RUNTIME_DIR/holt-ssh when it is this user's private folder, else ssh/ in the state directory", () => {
  const runtime = join(scratch, "runtime");
  mkdirSync(runtime, { mode: 0o700 });
  chmodSync(runtime, 0o700);
  assert.equal(controlRoot({ XDG_RUNTIME_DIR: runtime }), join(runtime, "holt-ssh"));
  assert.equal(controlRoot({ HOLT_STATE_DIR: "/srv/holt" }), "/srv/holt/ssh");
  assert.equal(
    controlRoot({ XDG_RUNTIME_DIR: "relative", HOLT_STATE_DIR: "/srv/holt" }),
    "/srv/holt/ssh",
  );
  // A command's --state-dir moves it too, before HOLT_STATE_DIR; $XDG_RUNTIME_DIR still comes first.
  assert.equal(controlRoot({ HOLT_STATE_DIR: "/srv/holt" }, "/data/holt"), "/data/holt/ssh");
  assert.equal(controlRoot({ XDG_RUNTIME_DIR: runtime }, "/data/holt"), join(runtime, "holt-ssh"));
  // Another user's (as `su` without `-` hands root), one open to others, a link or nothing:
  // whoever may change that folder could swap what holt makes in it.
  const open = join(scratch, "runtime-open");
  mkdirSync(open);
  chmodSync(open, 0o755);
  const others = join(scratch, "runtime-others");
  mkdirSync(others, { mode: 0o700 });
  chownSync(others, 4242, 4242);
  const link = join(scratch, "runtime-link");
  symlinkSync(runtime, link);
  for (const dir of [open, others, link, join(scratch, "runtime-missing")]) {
    assert.equal(controlRoot({ XDG_RUNTIME_DIR: dir }, "/data/holt"), "/data/holt/ssh", dir);
  }
});

test("createControlFolder: a 0700 root and a 0700 folder with the marker", () => {
  const root = newRoot();
  const dir = createControlFolder(root);
  assert.ok(dir !== null);
  assert.equal(lstatSync(root).mode & 0o777, 0o700);
  assert.equal(lstatSync(dir).mode & 0o777, 0o700);
  assert.match(dir, new RegExp(`/${process.pid}-[A-Za-z0-9]{6}$`));
  assert.deepEqual(readdirSync(dir), [".holt-ssh"]);
  removeControlFolder(dir);
  assert.equal(existsSync(dir), false);
});

test("createControlFolder: no folder in a root that others may enter, or that is a link", () => {
  const open = newRoot();
  mkdirSync(open, { recursive: true, mode: 0o755 });
  chmodSync(open, 0o755);
  assert.equal(createControlFolder(open), null);
  const target = newRoot();
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const link = newRoot();
  mkdirSync(join(link, ".."), { recursive: true });
  symlinkSync(target, link);
  assert.equal(createControlFolder(link), null);
  assert.deepEqual(readdirSync(target), []);
});

test("removeLeftBehind: removes a gone holt's socket and marker and its folder, and nothing else", async () => {
  const root = newRoot();
  const mine = createControlFolder(root);
  assert.ok(mine !== null);
  const dead = gonePid();
  // A folder a killed holt left: its marker and its socket.
  const left = join(root, `${dead}-aaaaaa`);
  mkdirSync(left, { mode: 0o700 });
  writeFileSync(join(left, ".holt-ssh"), "marker\n");
  await socketAt(join(left, CONTROL_SOCKET));
  // The same, holding something holt never makes: that stays, and so does the folder.
  const extra = join(root, `${dead}-bbbbbb`);
  mkdirSync(extra, { mode: 0o700 });
  writeFileSync(join(extra, ".holt-ssh"), "marker\n");
  writeFileSync(join(extra, "notes.txt"), "keep me\n");
  // Named like one, but without the marker.
  const unmarked = join(root, `${dead}-cccccc`);
  mkdirSync(unmarked, { mode: 0o700 });
  // Another user's.
  const foreign = join(root, `${dead}-dddddd`);
  mkdirSync(foreign, { mode: 0o700 });
  writeFileSync(join(foreign, ".holt-ssh"), "marker\n");
  chownSync(foreign, 65534, 65534);
  chownSync(join(foreign, ".holt-ssh"), 65534, 65534);
  // A link named like one, to a marked folder elsewhere: never followed.
  const elsewhere = join(scratch, "elsewhere");
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, ".holt-ssh"), "marker\n");
  symlinkSync(elsewhere, join(root, `${dead}-eeeeee`));

  removeLeftBehind(root, (pid) => pid !== dead);

  assert.deepEqual(
    readdirSync(root).sort(),
    [
      `${dead}-bbbbbb`,
      `${dead}-cccccc`,
      `${dead}-dddddd`,
      `${dead}-eeeeee`,
      mine.slice(root.length + 1),
    ].sort(),
  );
  assert.deepEqual(readdirSync(extra), ["notes.txt"]);
  assert.deepEqual(readdirSync(foreign), [".holt-ssh"]);
  assert.deepEqual(readdirSync(elsewhere), [".holt-ssh"]);
  assert.deepEqual(readdirSync(mine), [".holt-ssh"], "a running holt's folder stays");
});

test("removeLeftBehind: a root that is a link is not read", () => {
  const target = newRoot();
  mkdirSync(target, { recursive: true, mode: 0o700 });
  const dead = gonePid();
  mkdirSync(join(target, `${dead}-ffffff`));
  writeFileSync(join(target, `${dead}-ffffff`, ".holt-ssh"), "marker\n");
  const link = newRoot();
  mkdirSync(join(link, ".."), { recursive: true });
  symlinkSync(target, link);
  removeLeftBehind(link, () => false);
  assert.deepEqual(readdirSync(target), [`${dead}-ffffff`]);
});
