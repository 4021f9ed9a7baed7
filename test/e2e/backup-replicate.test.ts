/**
 * Replication through the CLI, from a zfs-fuse pool on this machine to a
 * pool on a second "host" reached over SSH in its own network namespace:
 * full then incremental, checksums equal on both sides, the hold on the base,
 * and the faults (killed mid-stream, damaged stream, diverged replica in
 * three ways, target pool full, source pruning while replication fails).
 *
 * The replica host's `zfs` is a wrapper (through PATH on that host only)
 * that can damage or refuse the next stream it receives, on a flag file.
 *
 * zfs-fuse has no resumable receive, so the last tests run against an OpenZFS
 * stand-in: with the flag file "openzfs", the same wrappers (on both hosts,
 * `zfs` and `zpool`) report the extensible_dataset feature, and a `receive -s`
 * that is cut off leaves a token in a file that `zfs get receive_resume_token`
 * shows and `zfs send -t` turns back into the original send. The stand-in sends
 * the whole step again where OpenZFS would send only the rest; what it shows is
 * holt's side: -s, the token read, the resume, the hold, the discarded token.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type SshHost, startSshHost } from "../peers/sshd.ts";
import { createTestPool, type TestPool, zfsProgram } from "../peers/zfs.ts";
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
    cut: { host: "box", state: { data: { path: "/data" } } },
  },
});
`;
}

// The replica host's zfs: `receive` damages (flag "corrupt") or refuses (flag "refuse") the
// next stream. dd bs=1 reads exactly what it copies, so the rest of the stream is untouched.
// With the flag "openzfs" it is also the OpenZFS stand-in described above (and holt's own
// `zfs` on the source host, through its PATH); with the flag "stall", a receive takes 1 MiB,
// says so in the file "stalled", and waits 3 s, so a test can cut it off there; with the flag
// "refuse-fresh", it refuses every receive but a resumed one. It logs resumes in "resumed"
// and discarded partial states (`receive -A`) in "aborted".
const wrapper = (real: string) => `#!/bin/bash
flags="$(dirname "$0")"
real=${real}
token_of() { printf '%s/token-%s' "$flags" "\${1//\\//_}"; }
if [ "$1" = receive ] && [ -e "$flags/refuse" ]; then
  echo "cannot receive: refused by the test" >&2; exit 1
fi
if [ "$1" = receive ] && [ -e "$flags/corrupt" ]; then
  rm -f "$flags/corrupt"
  { dd bs=1 count=300000 status=none; dd bs=1 count=1 status=none | tr '\\000-\\377' '\\377\\000-\\376'; cat; } | "$real" "$@"
  exit $?
fi
[ -e "$flags/openzfs" ] || exec "$real" "$@"
case "$1" in
get)
  [[ "$*" == *receive_resume_token* ]] || exec "$real" "$@"
  if [ "$2 $3 $4 $5" = "-H -o value receive_resume_token" ]; then
    "$real" list -H -o name "$6" >/dev/null || exit 1
    echo -; exit 0
  fi
  # As OpenZFS prints it: in each dataset's lines, where it was asked for, in the -o order.
  # A user property holds its place (zfs-fuse prints every one asked for), then the token.
  args=(); cols=""; prev=""
  for a in "$@"; do
    [ "$prev" = -o ] && cols="$a"; prev="$a"
    args+=("\${a//receive_resume_token/holt-test:token}")
  done
  out="$("$real" "\${args[@]}")" || exit $?
  while IFS= read -r line; do
    IFS=$'\\t' read -r name property _ <<< "$line"
    if [ "$property" != holt-test:token ]; then printf '%s\\n' "$line"; continue; fi
    t="$(cat "$(token_of "$name")" 2>/dev/null || echo -)"
    if [ "$cols" = name,property,source,value ]; then
      printf '%s\\treceive_resume_token\\t-\\t%s\\n' "$name" "$t"
    else
      printf '%s\\treceive_resume_token\\t%s\\t-\\n' "$name" "$t"
    fi
  done <<< "$out" ;;
send)
  if [ "$2" != -t ]; then
    printf '%s' "\${*:2}" > "$flags/last-send"; exec "$real" "$@"
  fi
  read -r -a original <<< "$(printf '%s' "\${3#standin:}" | base64 -d)"
  snapshot="\${original[-1]}"
  if ! "$real" list -H -o name -t snapshot "$snapshot" >/dev/null 2>&1; then
    echo "cannot resume send: '$snapshot' used in the initial send no longer exists" >&2; exit 255
  fi
  echo "$3" >> "$flags/resumed"
  touch "$flags/resuming"
  exec "$real" send "\${original[@]}" ;;
receive)
  dataset="\${@: -1}"
  t="$(token_of "$dataset")"
  if [ "$2" = -A ]; then
    [ -e "$t" ] || { echo "cannot resume receive: '$dataset' does not have any resumable receive state" >&2; exit 1; }
    # A first copy's partial state is the new file system itself: OpenZFS destroys it.
    if [ -e "$t.full" ]; then "$real" destroy -r "$dataset" || exit 1; fi
    rm -f "$t" "$t.full"; echo "$dataset" >> "$flags/aborted"; exit 0
  fi
  resumable=no; args=()
  for a in "$@"; do if [ "$a" = -s ]; then resumable=yes; else args+=("$a"); fi; done
  first=""
  if [ -e "$t" ]; then
    # Only a resumed stream (zfs send -t, which leaves "resuming" before its first byte) may
    # go where a cut-off receive left its state, as in OpenZFS.
    first="$(dd bs=1 count=1 status=none | base64)"
    if [ ! -e "$flags/resuming" ]; then
      echo "cannot receive: destination $dataset contains partially-complete state from "zfs receive -s"." >&2
      exit 1
    fi
    rm -f "$flags/resuming"
    # The stand-in's placeholder for a cut-off first copy goes; OpenZFS would resume into it.
    if [ -e "$t.full" ]; then "$real" destroy -r "$dataset" 2>/dev/null; fi
  elif [ -e "$flags/refuse-fresh" ]; then
    echo "cannot receive: refused by the test" >&2; exit 1
  fi
  feed() {
    [ -z "$first" ] || printf '%s' "$first" | base64 -d
    if [ -e "$flags/stall" ]; then
      rm -f "$flags/stall"
      dd bs=65536 count=16 iflag=fullblock status=none; touch "$flags/stalled"; sleep 3
    fi
    cat
  }
  feed | "$real" "\${args[@]}"
  rc=$?
  if [ $rc = 0 ]; then rm -f "$t" "$t.full"; exit 0; fi
  if [ $resumable = yes ] && [ ! -e "$t" ]; then
    last="$(cat "$flags/last-send")"
    printf 'standin:%s' "$(printf '%s' "$last" | base64 -w0)" > "$t"
    # A cut-off first copy: OpenZFS keeps the new file system, inconsistent, with the token.
    case " $last " in
      *" -i "*) ;;
      *) touch "$t.full"; "$real" list "$dataset" >/dev/null 2>&1 || "$real" create -o canmount=off "$dataset" ;;
    esac
  fi
  exit $rc ;;
*) exec "$real" "$@" ;;
esac
`;

// The stand-in's pools all have the feature resumable receives need.
const zpoolWrapper = (real: string) => `#!/bin/sh
if [ -e "$(dirname "$0")/openzfs" ] && [ "$1" = get ] && [ "$5" = feature@extensible_dataset ]; then
  echo active; exit 0
fi
exec ${real} "$@"
`;

interface Replica {
  cutOff: "resumed" | "restarted" | null;
  service: string;
  source: string;
  target: string;
  status: string;
  from: string | null;
  to: string | null;
  bytes: number;
  error: string | null;
}

/** holt's environment: the test clock, and in the stand-in's tests its `zfs` on the source too. */
function holtEnv(at = START + hour * HOUR): NodeJS.ProcessEnv {
  return {
    HOLT_TEST_NOW: new Date(at).toISOString(),
    ...(existsSync(join(wrapperDir, "openzfs"))
      ? { PATH: `${wrapperDir}:${process.env.PATH}` }
      : {}),
  };
}

function backup(args: string[], at = START + hour * HOUR) {
  const r = folder.holt(["backup", ...args, "--json"], holtEnv(at));
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

function writeData(name: string, bytes: number, dataset = data()): void {
  writeFileSync(join(mountpointOf(dataset), name), randomBytes(bytes));
}

function assertSame(snapshot: string, from = data(), to = replica()): void {
  const here = manifest(`${from}@${snapshot}`);
  assert.ok(Object.keys(here).length > 0);
  assert.deepEqual(
    manifest(`${to}@${snapshot}`),
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
    writeFileSync(join(wrapperDir, "zfs"), wrapper(zfsProgram("zfs")), { mode: 0o755 });
    writeFileSync(join(wrapperDir, "zpool"), zpoolWrapper(zfsProgram("zpool")), { mode: 0o755 });
    chmodSync(wrapperDir, 0o755);
    [source, target, tiny] = await Promise.all([
      createTestPool({ sizeMb: 320 }),
      createTestPool({ sizeMb: 448 }),
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

  describe("OpenZFS stand-in (zfs-fuse has no receive -s): resumable transfers", () => {
    const cut = () => `${source.name}/holt/cut/data`;
    const cutReplica = () => `${target.name}/backup/cut/data`;
    const flag = (name: string) => join(wrapperDir, name);
    const tokenFile = () => flag(`token-${cutReplica().replaceAll("/", "_")}`);
    const logged = (name: string) =>
      existsSync(flag(name)) ? readFileSync(flag(name), "utf8").trim().split("\n") : [];
    const resumes = () => logged("resumed");
    const aborts = () => logged("aborted");

    before(() => writeFileSync(flag("openzfs"), ""));
    after(() => rmSync(flag("openzfs"), { force: true }));

    /** A `holt backup run cut` killed while the receive has 1 MiB of a 24 MB stream. */
    async function cutOffRun(): Promise<string> {
      writeData(`${hour}.bin`, 24_000_000, cut());
      writeFileSync(flag("stall"), "");
      hour += 1;
      const run = folder.holtAsync(["backup", "run", "cut"], holtEnv());
      const deadline = Date.now() + 60_000;
      while (!existsSync(flag("stalled")) && Date.now() < deadline) await sleep(50);
      assert.ok(existsSync(flag("stalled")), "a receive started and took the first MiB");
      run.child.kill("SIGKILL");
      await run.done;
      rmSync(flag("stalled"));
      const gone = Date.now() + 20_000;
      const busy = () => processes(`zfs (send|receive) .*/cut/data`);
      while (busy() && Date.now() < gone) await sleep(100);
      assert.ok(!busy(), "no zfs send or receive is left running");
      assert.ok(existsSync(tokenFile()), "holt received with -s, so the cut left a resume token");
      return snapshots(cut()).at(-1) as string;
    }

    test("a cut-off first copy is resumed by the next run, then held and marked", async () => {
      const step = await cutOffRun();
      assert.ok(existsSync(`${tokenFile()}.full`));
      const r = backup(["replicate", "cut"]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const done = only(r.replicas, "cut");
      assert.equal(done.status, "sent", JSON.stringify(done));
      assert.equal(done.cutOff, "resumed");
      assert.equal(done.from, null);
      assert.equal(done.to, step);
      assert.equal(resumes().length, 1, "the source sent with the token (zfs send -t)");
      assert.ok(!existsSync(tokenFile()), "no partial state is left");
      assertSame(step, cut(), cutReplica());
      assert.equal(zfsGet(cutReplica(), "readonly")?.[0], "on");
      assert.equal(zfsGet(`${target.name}/backup/cut`, "holt:receiving")?.[1], "-");
      assert.equal(userrefs(`${cut()}@${step}`), "1", "the replica's end is held");
    });

    test("a cut-off incremental is finished first and held, even when the next step then fails", async () => {
      const base = snapshots(cutReplica()).at(-1) as string;
      const step = await cutOffRun();
      writeData("after.bin", 10_000, cut());
      hour += 1;
      writeFileSync(flag("refuse-fresh"), "");
      let r: ReturnType<typeof backup>;
      try {
        r = backup(["run", "cut"]);
      } finally {
        rmSync(flag("refuse-fresh"));
      }
      assert.equal(r.code, 1, "the step after the resume was refused");
      const failed = only(r.replicas, "cut");
      assert.equal(failed.cutOff, "resumed", JSON.stringify(failed));
      assert.match(failed.error ?? "", /refused by the test/);
      assert.ok(failed.bytes > 1_000_000, `the resumed bytes count: ${failed.bytes}`);
      assert.equal(resumes().length, 2);
      assert.equal(snapshots(cutReplica()).at(-1), step);
      assert.equal(
        userrefs(`${cut()}@${step}`),
        "1",
        "the resumed end is held while the next fails",
      );

      const r2 = backup(["replicate", "cut"]);
      assert.equal(r2.code, 0, `${r2.stdout}\n${r2.stderr}`);
      const done = only(r2.replicas, "cut");
      assert.equal(done.cutOff, null);
      assert.equal(done.from, step);
      const newest = snapshots(cut()).at(-1) as string;
      assert.equal(done.to, newest);
      assertSame(newest, cut(), cutReplica());
      assert.equal(userrefs(`${cut()}@${newest}`), "1", "the new end is held");
      assert.equal(userrefs(`${cut()}@${step}`), "0", "the resumed step is released");
      assert.equal(userrefs(`${cut()}@${base}`), "0", "the old base is released");
    });

    test("a token the source can no longer serve is discarded, and the transfer starts over", async () => {
      const base = snapshots(cutReplica()).at(-1) as string;
      const step = await cutOffRun();
      // Pruned, or destroyed by hand: the step in flight is not held until it arrives.
      zfs("destroy", `${cut()}@${step}`);
      hour += 1;
      const r = backup(["run", "cut"]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const done = only(r.replicas, "cut");
      assert.equal(done.cutOff, "restarted", JSON.stringify(done));
      assert.equal(done.from, base);
      assert.equal(resumes().length, 2, "nothing was resumed");
      assert.deepEqual(
        aborts(),
        [cutReplica()],
        "the partial state was discarded (zfs receive -A)",
      );
      assert.ok(!snapshots(cutReplica()).includes(step));
      assertSame(done.to as string, cut(), cutReplica());
      const human = folder.holt(["backup", "replicate", "cut"], holtEnv());
      assert.match(human.stdout, /cut\/data: up to date/);
    });

    test("a diverged replica's cut-off transfer is left alone; --reseed discards it and moves the replica aside", async () => {
      const step = await cutOffRun();
      zfs("snapshot", `${cutReplica()}@mine`);
      const r = backup(["replicate", "cut"]);
      assert.equal(r.code, 1);
      const diverged = only(r.replicas, "cut");
      assert.equal(diverged.status, "diverged", JSON.stringify(diverged));
      assert.equal(diverged.cutOff, null);
      assert.match(diverged.error ?? "", /has snapshots the source does not \(mine\)/);
      assert.equal(resumes().length, 2, "not resumed");
      assert.equal(aborts().length, 1, "not discarded");
      assert.ok(existsSync(tokenFile()));

      const human = folder.holt(["backup", "replicate", "cut", "--reseed"], holtEnv());
      assert.equal(human.code, 0, `${human.stdout}\n${human.stderr}`);
      assert.match(human.stdout, /discarded the transfer an earlier run left cut off/);
      assert.match(human.stdout, new RegExp(`full copy of ${step}`));
      assert.equal(aborts().length, 2);
      assert.ok(!existsSync(tokenFile()));
      assertSame(step, cut(), cutReplica());
      const aside = zfs("list", "-H", "-o", "name", "-r", `${target.name}/backup/cut`)
        .split("\n")
        .filter((n) => n.includes("data-diverged-"));
      assert.equal(aside.length, 1, "the diverged replica is kept, renamed");
    });
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
