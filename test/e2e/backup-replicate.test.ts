/**
 * Replication through the CLI, from a zfs-fuse pool on this machine to a
 * pool on a second "host" reached over SSH in its own network namespace:
 * full then incremental, checksums equal on both sides, the hold on the base,
 * and the faults (killed mid-stream, damaged stream, diverged replica in
 * three ways, target pool full, source pruning while replication fails).
 *
 * The replica host's `zfs` is a wrapper (through PATH on that host only)
 * that can damage or refuse the next stream it receives, on a flag file.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type SshHost, startSshHost } from "../peers/sshd.ts";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import {
  checksums,
  createLabFolder,
  destroyWhenFree,
  type LabFolder,
  zfs,
  zfsGet,
} from "./harness.ts";

const lab = `rp${process.pid}`;
const HOUR = 3_600_000;
const START = Date.UTC(2026, 10, 2, 0, 0, 0);

let source: TestPool;
let target: TestPool;
let tiny: TestPool;
let ssh: SshHost;
let folder: LabFolder;
let wrapperDir: string;
let hour = 0;

const data = () => `${source.name}/holt/app/data`;
const replica = () => `${target.name}/backup/app/data`;

function config(): string {
  return `import { defineLab } from "holt";
export default defineLab({
  domain: "lab.example.com",
  name: "${lab}",
  hosts: {
    box: { connect: "local", stateRoot: "${source.name}/holt" },
    nas: {
      address: "${ssh.address}",
      ${ssh.connectConfig},
    },
  },
  backups: {
    policies: {
      default: { snapshots: { hourly: 2 }, replica: { to: "nas:${target.name}/backup", keep: { hourly: 3 } } },
      small: { snapshots: { hourly: 2 }, replica: { to: "nas:${tiny.name}/backup" } },
    },
  },
  services: {
    app: { host: "box", state: { data: { path: "/data" } } },
    big: { host: "box", state: { blob: { path: "/blob", backup: "small" } } },
  },
});
`;
}

// The replica host's zfs: `receive` damages (flag "corrupt") or refuses (flag "refuse") the
// next stream. dd bs=1 reads exactly what it copies, so the rest of the stream is untouched.
const WRAPPER = `#!/bin/sh
flags="$(dirname "$0")"
if [ "$1" = receive ] && [ -e "$flags/refuse" ]; then
  echo "cannot receive: refused by the test" >&2; exit 1
fi
if [ "$1" = receive ] && [ -e "$flags/corrupt" ]; then
  rm -f "$flags/corrupt"
  { dd bs=1 count=300000 status=none; dd bs=1 count=1 status=none | tr '\\000-\\377' '\\377\\000-\\376'; cat; } | /usr/sbin/zfs "$@"
  exit $?
fi
exec /usr/sbin/zfs "$@"
`;

interface Replica {
  service: string;
  source: string;
  target: string;
  status: string;
  from: string | null;
  to: string | null;
  bytes: number;
  error: string | null;
}

function backup(args: string[], at = START + hour * HOUR) {
  const r = folder.holt(["backup", ...args, "--json"], {
    HOLT_TEST_NOW: new Date(at).toISOString(),
  });
  const parsed =
    r.stdout.trim() === "" ? { replicas: [] } : (JSON.parse(r.stdout) as { replicas: Replica[] });
  return { ...r, replicas: parsed.replicas };
}

function runNextHour() {
  hour += 1;
  return backup(["run", "app"]);
}

function only(replicas: Replica[], service = "app"): Replica {
  const r = replicas.filter((x) => x.service === service);
  assert.equal(r.length, 1, JSON.stringify(replicas));
  return r[0] as Replica;
}

function snapshots(dataset: string): string[] {
  return zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset)
    .split("\n")
    .filter((l) => l.startsWith(`${dataset}@`))
    .map((l) => l.slice(dataset.length + 1));
}

function mountpointOf(dataset: string): string {
  const mp = zfsGet(dataset, "mountpoint")?.[0] ?? "";
  assert.ok(mp.startsWith("/"), `${dataset} has no mountpoint`);
  return mp;
}

/** sha256 of every file in a snapshot, read from a temporary clone. */
function manifest(snapshot: string): Record<string, string> {
  const pool = snapshot.split("/")[0] as string;
  const clone = `${pool}/check${randomBytes(3).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "holt-manifest-"));
  zfs("clone", "-o", `mountpoint=${dir}`, "-o", "readonly=on", snapshot, clone);
  try {
    return checksums(dir);
  } finally {
    destroyWhenFree(clone);
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeData(name: string, bytes: number): void {
  writeFileSync(join(mountpointOf(data()), name), randomBytes(bytes));
}

function assertSame(snapshot: string): void {
  const here = manifest(`${data()}@${snapshot}`);
  assert.ok(Object.keys(here).length > 0);
  assert.deepEqual(
    manifest(`${replica()}@${snapshot}`),
    here,
    "the replica's checksums equal the source's",
  );
}

function userrefs(snapshot: string): string | undefined {
  return zfsGet(snapshot, "userrefs")?.[0];
}

describe("replication to a second host over SSH (zfs-fuse, real sshd)", () => {
  before(async () => {
    wrapperDir = mkdtempSync(join(tmpdir(), "holt-zfs-wrapper-"));
    writeFileSync(join(wrapperDir, "zfs"), WRAPPER);
    chmodSync(join(wrapperDir, "zfs"), 0o755);
    chmodSync(wrapperDir, 0o755);
    [source, target, tiny] = await Promise.all([
      createTestPool({ sizeMb: 320 }),
      createTestPool({ sizeMb: 320 }),
      createTestPool({ sizeMb: 64 }),
    ]);
    ssh = await startSshHost({ pathPrefix: wrapperDir });
    folder = createLabFolder();
    folder.write(config());
    const r = folder.holt(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });

  after(async () => {
    await ssh?.stop();
    await Promise.all([source?.destroy(), target?.destroy(), tiny?.destroy()]);
    folder?.remove();
    if (wrapperDir !== undefined) rmSync(wrapperDir, { recursive: true, force: true });
  });

  test("the first run sends a full copy, the next an incremental; the replica equals the source", () => {
    writeData("a.bin", 1_000_000);
    const first = runNextHour();
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    const full = only(first.replicas);
    assert.equal(full.status, "sent", JSON.stringify(full));
    assert.equal(full.from, null);
    assert.equal(full.target, `nas:${replica()}`);
    assert.ok(full.bytes > 1_000_000, `${full.bytes} bytes`);
    assertSame(full.to as string);
    assert.equal(zfsGet(replica(), "readonly")?.[0], "on");
    assert.equal(zfsGet(replica(), "mounted")?.[0], "no");
    assert.equal(zfsGet(replica(), "canmount")?.[0], "noauto");
    assert.equal(zfsGet(replica(), "holt:replica-of")?.[0], `${lab}:box:${data()}`);

    writeData("b.bin", 300_000);
    const second = runNextHour();
    assert.equal(second.code, 0, second.stderr);
    const inc = only(second.replicas);
    assert.equal(inc.status, "sent");
    assert.equal(inc.from, full.to, "incremental from the newest common snapshot");
    assert.ok(inc.bytes < full.bytes && inc.bytes > 300_000, `${inc.bytes} bytes`);
    assertSame(inc.to as string);
    assert.equal(userrefs(`${data()}@${inc.to}`), "1", "the new base is held");
    assert.equal(userrefs(`${data()}@${full.to}`), "0", "the old base is released");

    const again = backup(["replicate", "app"]);
    assert.equal(again.code, 0);
    assert.equal(only(again.replicas).status, "up to date");

    const human = folder.holt(["backup", "replicate", "app"]);
    assert.match(human.stdout, new RegExp(`box:${data()} → nas:${replica()}: up to date`));
  });

  test("while replication fails, local pruning keeps the held base; the next run continues from it", () => {
    const base = only(backup(["replicate", "app"]).replicas).to as string;
    writeFileSync(join(wrapperDir, "refuse"), "");
    try {
      for (let i = 0; i < 4; i++) {
        writeData(`c${i}.bin`, 10_000);
        const r = runNextHour();
        assert.equal(r.code, 1, "a failed replication fails the run");
        assert.match(only(r.replicas).error ?? "", /refused by the test/);
      }
    } finally {
      rmSync(join(wrapperDir, "refuse"));
    }
    const kept = snapshots(data());
    assert.ok(
      kept.includes(base),
      `hourly: 2 would have pruned ${base}; the hold kept it (${kept})`,
    );
    assert.equal(kept.length, 3, `${kept}`);
    const r = backup(["replicate", "app"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(only(r.replicas).from, base);
    assertSame(only(r.replicas).to as string);
    // The replica keeps its own count (hourly: 3), the source its own (hourly: 2 + the base).
    assert.equal(snapshots(replica()).length, 3, `${snapshots(replica())}`);
  });

  test("killed mid-stream: the replica is as before, and the next run sends again", async () => {
    const before = snapshots(replica());
    writeData("big.bin", 60_000_000);
    hour += 1;
    const run = folder.holtAsync(["backup", "run", "app"], {
      HOLT_TEST_NOW: new Date(START + hour * HOUR).toISOString(),
    });
    const deadline = Date.now() + 60_000;
    while (!receiving() && Date.now() < deadline) await sleep(50);
    assert.ok(receiving(), "a zfs receive started");
    assert.ok(sshMaster(), "the stream's OpenSSH connection was opened ahead");
    await sleep(300);
    run.child.kill("SIGKILL");
    await run.done;
    const gone = Date.now() + 20_000;
    while ((receiving() || sending() || sshMaster()) && Date.now() < gone) await sleep(100);
    assert.ok(!receiving() && !sending(), "no zfs send or receive is left running");
    assert.ok(!sshMaster(), "no OpenSSH connection of holt's is left");
    assert.deepEqual(snapshots(replica()), before, "nothing half-received");
    const r = backup(["replicate", "app"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(only(r.replicas).status, "sent");
    assertSame(only(r.replicas).to as string);
  });

  test("a damaged stream is refused by ZFS; the replica is as before; the next run repairs", () => {
    const before = snapshots(replica());
    writeData("d.bin", 2_000_000);
    writeFileSync(join(wrapperDir, "corrupt"), "");
    const r = runNextHour();
    assert.equal(r.code, 1);
    const failed = only(r.replicas);
    assert.equal(failed.status, "failed");
    assert.match(
      failed.error ?? "",
      /damaged or cut short.*the replica is as before; the next run sends again/,
    );
    assert.deepEqual(snapshots(replica()), before);
    const again = backup(["replicate", "app"]);
    assert.equal(again.code, 0, again.stderr);
    assertSame(only(again.replicas).to as string);
  });

  test("a snapshot made on the replica stops replication, is kept, and the message says what to do", () => {
    zfs("snapshot", `${replica()}@mine`);
    writeData("e.bin", 10_000);
    const r = runNextHour();
    assert.equal(r.code, 1);
    const d = only(r.replicas);
    assert.equal(d.status, "diverged");
    assert.match(
      d.error ?? "",
      /has snapshots the source does not \(mine\).*holt backup replicate app --reseed/,
    );
    assert.ok(snapshots(replica()).includes("mine"), "never destroyed");
    // The user decides: here, the snapshot was a mistake.
    zfs("destroy", `${replica()}@mine`);
    const again = backup(["replicate", "app"]);
    assert.equal(again.code, 0, again.stderr);
    assertSame(only(again.replicas).to as string);
  });

  test("a replica written to is diverged; --reseed keeps it aside and sends a full copy", () => {
    const mnt = mkdtempSync(join(tmpdir(), "holt-replica-"));
    zfs("set", "readonly=off", replica());
    zfs("set", `mountpoint=${mnt}`, replica());
    zfs("mount", replica());
    writeFileSync(join(mnt, "written-on-the-replica"), "mine");
    zfs("unmount", replica());
    writeData("f.bin", 10_000);
    const r = runNextHour();
    assert.equal(r.code, 1);
    assert.equal(only(r.replicas).status, "diverged");
    assert.match(only(r.replicas).error ?? "", /written to since its newest snapshot/);
    const reseed = backup(["replicate", "app", "--reseed"]);
    assert.equal(reseed.code, 0, reseed.stderr);
    const full = only(reseed.replicas);
    assert.equal(full.from, null, "a full copy");
    assertSame(full.to as string);
    const aside = zfs("list", "-H", "-o", "name", "-r", `${target.name}/backup/app`)
      .split("\n")
      .filter((n) => n.includes("data-diverged-"));
    assert.equal(aside.length, 1, "the diverged replica is kept, renamed");
    rmSync(mnt, { recursive: true, force: true });
  });

  test("a source rolled back past the replica is diverged, and --reseed recovers", () => {
    // Two more replicated snapshots, then the source goes back to the first of them.
    for (let i = 0; i < 2; i++) {
      writeData(`g${i}.bin`, 10_000);
      assert.equal(runNextHour().code, 0);
    }
    const ours = snapshots(data()).filter((s) => s.startsWith("holt-"));
    const older = ours.at(-2) as string;
    const newest = ours.at(-1) as string;
    // The hold on the replication base stops a rollback past it: the user releases it on purpose.
    zfs("release", `holt-replica-${lab}-nas`, `${data()}@${newest}`);
    zfs("rollback", "-r", `${data()}@${older}`);
    const r = backup(["replicate", "app"]);
    assert.equal(r.code, 1);
    assert.equal(only(r.replicas).status, "diverged");
    assert.match(only(r.replicas).error ?? "", /rolled back/);
    const fixed = backup(["replicate", "app", "--reseed"]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assertSame(only(fixed.replicas).to as string);
  });

  test("a full target pool fails clearly, leaves the replica as before, and recovers once there is room", () => {
    const blob = `${source.name}/holt/big/blob`;
    writeFileSync(join(mountpointOf(blob), "huge.bin"), randomBytes(90_000_000));
    hour += 1;
    const r = backup(["run", "big"]);
    assert.equal(r.code, 1);
    const full = only(r.replicas, "big");
    assert.equal(full.status, "failed");
    assert.match(full.error ?? "", /target pool is full.*Free space on nas/);
    assert.equal(zfsGet(`${tiny.name}/backup/big/blob`, "type"), null, "nothing half-received");
    // Room made on the source side: the big file goes, and a new snapshot is small.
    rmSync(join(mountpointOf(blob), "huge.bin"));
    hour += 1;
    const again = backup(["run", "big"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(only(again.replicas, "big").status, "sent");
  });
});

function processes(pattern: string): boolean {
  return spawnSync("pgrep", ["-f", pattern], { encoding: "utf8" }).stdout.trim() !== "";
}

function receiving(): boolean {
  return processes(`zfs receive -u ${replica()}`);
}

function sending(): boolean {
  return processes(`zfs send .*${data()}@`);
}

/** OpenSSH's connection opened ahead for the stream (`ssh -M`), to this test's host. */
function sshMaster(): boolean {
  return processes(`ssh -M .* ${ssh.address.replaceAll(".", "\\.")}$`);
}
