/**
 * Restore through the CLI, on real components: a service in a Podman
 * container on a zfs-fuse pool, a replica on a second pool reached over SSH
 * in a network namespace, and a restic folder repository. Three points in
 * time are backed up; the service is then restored to them from each copy
 * (local, replica, offsite), checked against the checksums taken when each
 * was current, healthy afterwards, with the state before kept as a safety
 * snapshot and replication carrying on. A restore killed half-way is
 * finished by the rerun, keeping the first safety snapshot; a restore and a
 * backup run started together never leave a snapshot of half-restored data
 * (the lab's backup lock lets one of them run, the other fails at once
 * naming it). Last, the
 * disaster drill: the source pool is destroyed and made again empty, and
 * `holt restore --all --from offsite` plus `holt apply` (with an empty state
 * folder, as on a new machine) bring the service back with the same data.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import { ensureTestImages, podman, removeLabResources, testLab } from "../peers/podman.ts";
import { freePort } from "../peers/ports.ts";
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

const HOUR = 3_600_000;
const START = Date.UTC(2026, 10, 5, 0, 0, 0);
const PASSWORD = `restic-${randomBytes(8).toString("hex")}`;
const service = `rst${process.pid}`;

let lab: string;
let source: TestPool;
let target: TestPool;
let ssh: SshHost;
let folder: LabFolder;
let repo: string;
let image: string;
let port: number;
let hour = 0;
let nasBin: string;
const points = new Map<string, Record<string, string>>();

interface Drill {
  ok: boolean;
  from: string;
  snapshot: string;
  compared: string;
  files: number;
  error: string | null;
}

interface StatusRow {
  dataset: string;
  verdict: string;
  replicaCopy: { snapshot: string } | null;
  offsiteCopy: { snapshot: string } | null;
  verified: { snapshot: string } | null;
  problems: string[];
}

const data = () => `${source.name}/holt/${service}/data`;
const cache = () => `${source.name}/holt/${service}/cache`;
const keyEnv = (): NodeJS.ProcessEnv => ({ HOLT_AGE_KEY_FILE: join(folder.dir, "age.key") });

function config(): string {
  return `import { defineLab, secret } from "holt";
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
      default: {
        snapshots: { hourly: 24 },
        replica: { to: "nas:${target.name}/backup", keep: { hourly: 24 } },
        offsite: { repository: "vault", keep: { hourly: 24 } },
      },
    },
    repositories: { vault: { restic: "${repo}", password: secret("restic-password") } },
  },
  services: {
    ${service}: {
      host: "box",
      image: "${image}",
      port: 8090,
      hostPort: ${port},
      command: ["sh", "-c", "mkdir -p /srv && echo ok > /srv/healthz && exec httpd -f -p 8090 -h /srv"],
      state: { data: { path: "/data" }, cache: { path: "/cache", backup: false } },
      health: { http: "/healthz", interval: "1s", timeout: "1s", retries: 3 },
      hooks: { verify: ["sh", "-c", "test -s /data/keep.txt"] },
    },
  },
});
`;
}

/** `zfs` on the replica host: listings of every dataset show only its own pool. */
function nasZfs(pool: string): string {
  return `#!/bin/sh
for last; do :; done
if [ "$1" = get ] && [ "$last" = all ]; then
  out="$(/usr/sbin/zfs "$@")" || exit $?
  printf '%s\\n' "$out" | grep -E '^${pool}([/@[:space:]]|$)' || true
  exit 0
fi
exec /usr/sbin/zfs "$@"
`;
}

function holt(args: string[], env: NodeJS.ProcessEnv = {}) {
  return folder.holt(args, {
    ...keyEnv(),
    HOLT_TEST_NOW: new Date(START + hour * HOUR).toISOString(),
    ...env,
  });
}

function live(): string {
  const mp = zfsGet(data(), "mountpoint")?.[0] ?? "";
  assert.ok(mp.startsWith("/"), `${data()} has no mountpoint`);
  return mp;
}

function snapshotName(h: number): string {
  return `holt-${new Date(START + h * HOUR)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
}

function snapshots(dataset: string): string[] {
  return zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset)
    .split("\n")
    .filter((l) => l.startsWith(`${dataset}@`))
    .map((l) => l.slice(dataset.length + 1));
}

/** Files of a snapshot, read from a temporary clone. */
function filesOf(snapshot: string): Record<string, string> {
  const clone = `${source.name}/look${randomBytes(3).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "holt-look-"));
  zfs("clone", "-o", `mountpoint=${dir}`, "-o", "readonly=on", snapshot, clone);
  try {
    return checksums(dir);
  } finally {
    destroyWhenFree(clone);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Running and passing its health check, as `holt status` sees it. */
function healthy(): boolean {
  const r = holt(["status", "--json"]);
  if (r.code !== 0) return false;
  const s = (
    JSON.parse(r.stdout) as { services: { service: string; state: string; health: string }[] }
  ).services.find((x) => x.service === service);
  return s?.state === "running" && s.health === "passing";
}

function running(): boolean {
  const r = podman(["inspect", "--format", "{{.State.Running}}", `holt-${service}`]);
  return r.code === 0 && r.stdout.trim() === "true";
}

/** A backup run at the next hour; the files then are remembered under its snapshot's name. */
function backupNextHour(): string {
  hour += 1;
  const name = snapshotName(hour);
  points.set(name, checksums(live()));
  const r = holt(["backup", "run", "--json"]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const body = JSON.parse(r.stdout) as {
    services: { snapshot: string | null; error: string | null }[];
    replicas: { status: string }[];
    offsite: { status: string }[];
  };
  assert.equal(body.services[0]?.snapshot, name, JSON.stringify(body.services));
  assert.equal(body.services[0]?.error, null);
  assert.deepEqual(
    body.replicas.map((r) => r.status),
    ["sent"],
  );
  assert.deepEqual(
    body.offsite.map((r) => r.status),
    ["copied"],
  );
  return name;
}

function safetySnapshots(): string[] {
  return snapshots(data()).filter((s) => s.startsWith("restore-safety-"));
}

function assertRestored(r: ReturnType<typeof holt>, snapshot: string): void {
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.deepEqual(checksums(live()), points.get(snapshot), `the data equals ${snapshot}'s`);
  assert.ok(healthy(), "the service is running and healthy after the restore");
  assert.equal(zfsGet(data(), "holt:restoring")?.[0], "-", "no restore is left marked");
}

describe("restore from local, replica and offsite; disaster recovery (zfs-fuse, sshd, restic, Podman)", () => {
  before(async () => {
    image = (await ensureTestImages()).v1;
    [source, target] = await Promise.all([
      createTestPool({ sizeMb: 256 }),
      createTestPool({ sizeMb: 256 }),
    ]);
    // The replica host is this machine seen over SSH; through PATH it sees only its own pool and
    // has no Podman, as a separate NAS would (else the lab's apply would find box's datasets and
    // network there too, and plan to release them).
    nasBin = mkdtempSync(join(tmpdir(), "holt-nas-bin-"));
    writeFileSync(join(nasBin, "zfs"), nasZfs(target.name));
    writeFileSync(join(nasBin, "podman"), 'echo "podman: program not found" >&2; exit 127\n');
    for (const f of ["zfs", "podman"]) chmodSync(join(nasBin, f), 0o755);
    chmodSync(nasBin, 0o755);
    ssh = await startSshHost({ pathPrefix: nasBin });
    port = await freePort();
    lab = testLab("rst");
    repo = mkdtempSync(join(tmpdir(), "holt-restic-"));
    rmSync(repo, { recursive: true });
    folder = createLabFolder();
    folder.write(config());
    assert.equal(folder.holt(["secrets", "init"], keyEnv()).code, 0);
    folder.setSecret("restic-password", PASSWORD, keyEnv());
    const r = holt(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.ok(healthy());
    const init = holt(["backup", "init-offsite", "vault"]);
    assert.equal(init.code, 0, `${init.stdout}\n${init.stderr}`);
  });

  after(async () => {
    removeLabResources(lab);
    await ssh?.stop();
    await Promise.all([source?.destroy(), target?.destroy()]);
    folder?.remove();
    if (nasBin !== undefined) rmSync(nasBin, { recursive: true, force: true });
    if (repo !== undefined) rmSync(repo, { recursive: true, force: true });
  });

  let t1 = "";
  let t2 = "";

  test("three points in time, each in all three copies", () => {
    writeFileSync(join(live(), "keep.txt"), "version 1\n");
    writeFileSync(join(live(), "a.bin"), randomBytes(300_000));
    mkdirSync(join(live(), "sub"), { recursive: true });
    writeFileSync(join(live(), "sub", "b.txt"), "b\n");
    writeFileSync(join(zfsGet(cache(), "mountpoint")?.[0] ?? "", "cache.txt"), "not backed up\n");
    t1 = backupNextHour();
    writeFileSync(join(live(), "keep.txt"), "version 2\n");
    writeFileSync(join(live(), "a.bin"), randomBytes(200_000));
    rmSync(join(live(), "sub"), { recursive: true });
    writeFileSync(join(live(), "c.bin"), randomBytes(100_000));
    t2 = backupNextHour();
    writeFileSync(join(live(), "d.txt"), "written after the last backup\n");
    assert.notDeepEqual(points.get(t1), points.get(t2));
  });

  test("a dry run, a missing --yes and bad flags change nothing", () => {
    const before = checksums(live());
    const dry = holt(["restore", service, "--snapshot", t1, "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stderr, new RegExp(`Restore ${service} on box to ${t1} from local`));
    assert.match(dry.stderr, new RegExp(`~ ${data()}  ← box:${data()}@${t1}  \\(3 files`));
    assert.doesNotMatch(dry.stderr, /cache/, "backup: false entries are not restored");
    const unasked = holt(["restore", service, "--snapshot", t1]);
    assert.notEqual(unasked.code, 0);
    assert.match(unasked.stderr, /standard input is not a terminal.*--yes/);
    const badTime = holt(["restore", service, "--at", "last tuesday", "--yes"]);
    assert.equal(badTime.code, 1, badTime.stderr);
    assert.match(badTime.stderr, /--at "last tuesday" is not a time/);
    const badFrom = holt(["restore", service, "--from", "tape", "--yes"]);
    assert.match(badFrom.stderr, /--from "tape" is not a copy holt keeps/);
    const missing = holt(["restore", service, "--snapshot", "holt-20200101T000000Z", "--yes"]);
    assert.notEqual(missing.code, 0);
    assert.match(
      missing.stderr,
      /No copy to restore .* local: no snapshot named holt-20200101T000000Z/,
    );
    assert.deepEqual(checksums(live()), before);
    assert.deepEqual(safetySnapshots(), []);
    assert.ok(healthy());
  });

  test("from local: the data equals the first point, the state before is kept, replication carries on", () => {
    const before = checksums(live());
    const r = holt(["restore", service, "--snapshot", t1, "--from", "local", "--yes"]);
    assertRestored(r, t1);
    assert.match(r.stdout, /checked against the recorded manifest/);
    assert.match(r.stderr, /hooks\.verify passed/);
    const [safety] = safetySnapshots();
    assert.ok(safety !== undefined, "a safety snapshot was taken");
    assert.deepEqual(
      filesOf(`${data()}@${safety}`),
      before,
      "the safety snapshot holds the state before",
    );
    assert.equal(
      checksums(zfsGet(cache(), "mountpoint")?.[0] ?? "")["cache.txt"] !== undefined,
      true,
      "the entry with backup: false is untouched",
    );
    // The next run replicates incrementally from the newest snapshot both sides have.
    hour += 1;
    const run = holt(["backup", "run", "--json"]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const replica = (JSON.parse(run.stdout) as { replicas: { status: string; from: string }[] })
      .replicas[0];
    assert.equal(replica?.status, "sent");
    assert.equal(replica?.from, t2, "incremental from the last common snapshot, no reseed");
    points.set(snapshotName(hour), checksums(live()));
  });

  test("from the replica, by time: the newest snapshot at or before it", () => {
    const at = new Date(START + 2 * HOUR + 30 * 60_000).toISOString();
    const r = holt(["restore", service, "--from", "replica", "--at", at, "--yes"]);
    assert.match(r.stderr, /from replica/);
    assertRestored(r, t2);
    assert.equal(safetySnapshots().length, 2);
  });

  test("from offsite: restic's copy of the first point", () => {
    const r = holt(["restore", service, "--from", "offsite", "--snapshot", t1, "--yes"]);
    assertRestored(r, t1);
    assert.match(r.stdout, /from offsite/);
    assert.equal(safetySnapshots().length, 3);
  });

  test("without room for the copy beside the safety snapshot, a restore stops before it stops the service", () => {
    const before = checksums(live());
    const used = Number(zfsGet(data(), "used")?.[0]);
    zfs("set", `quota=${used + 64 * 1024}`, data());
    try {
      const r = holt(["restore", service, "--snapshot", t1, "--from", "local", "--yes"]);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /has \d+ bytes available .* needs about \d+.*Raise its quota.*Nothing was changed; the service still runs/s,
      );
      assert.deepEqual(checksums(live()), before);
      assert.ok(healthy(), "the service was never stopped");
      assert.equal(zfsGet(data(), "holt:restoring")?.[0], "-");
    } finally {
      zfs("set", "quota=none", data());
    }
  });

  test("a restore killed after it replaced half the data is finished by the rerun, keeping the first safety snapshot", () => {
    writeFileSync(join(live(), "junk.txt"), "state just before the killed restore\n");
    const before = checksums(live());
    const safeties = safetySnapshots().length;
    const killed = holt(["restore", service, "--snapshot", t2, "--from", "local", "--yes"], {
      HOLT_TEST_CRASH_AT_STAGE: "copied:data",
    });
    assert.equal(killed.signal, "SIGKILL", `${killed.stdout}\n${killed.stderr}`);
    const mark = zfsGet(data(), "holt:restoring");
    assert.equal(mark?.[1], "local", "the dataset is marked as being restored");
    assert.ok(!running(), "the service stays stopped");
    const blocked = holt(["backup", "run", "--json"]);
    assert.equal(blocked.code, 1, "no snapshot of half-replaced data");
    assert.match(
      (JSON.parse(blocked.stdout) as { services: { error: string }[] }).services[0]?.error ?? "",
      /a restore of .* was cut short.*holt restore/,
    );
    const again = holt(["restore", service, "--snapshot", t2, "--from", "local", "--yes"]);
    assert.match(again.stderr, /finishing a restore that was cut short/);
    assertRestored(again, t2);
    const now = safetySnapshots();
    assert.equal(now.length, safeties + 1, "one safety snapshot for both runs");
    assert.equal(mark?.[0].split("|")[0], now.at(-1));
    assert.equal(mark?.[0].split("|").slice(1).join("|"), `${t2}|local`);
    assert.deepEqual(
      filesOf(`${data()}@${now.at(-1)}`),
      before,
      "and it holds the state before the first run",
    );
  });

  test("a restore and a backup run started together: no holt snapshot ever holds half-restored data", async (t) => {
    // The backup run starts with the restore, or while it verifies, or while it replaces the data.
    const rounds: [string, number][] = [
      [t1, 0],
      [t2, 300],
      [t1, 1500],
      [t2, 4000],
    ];
    for (const [snapshot, offset] of rounds) {
      writeFileSync(join(live(), "round.txt"), `before ${snapshot} +${offset} ms\n`);
      const before = checksums(live());
      const expected = points.get(snapshot);
      const earlier = new Set(snapshots(data()));
      hour += 1;
      const env = { ...keyEnv(), HOLT_TEST_NOW: new Date(START + hour * HOUR).toISOString() };
      const restore = folder.holtAsync(
        ["restore", service, "--snapshot", snapshot, "--from", "local", "--yes"],
        env,
      );
      await sleep(offset);
      const run = folder.holtAsync(["backup", "run", "--json"], env);
      const [restored, backedUp] = await Promise.all([restore.done, run.done]);
      const what = `+${offset} ms:\n${restored.stderr}\n${backedUp.stdout}\n${backedUp.stderr}`;
      // Each did its work, or failed at once naming the other.
      for (const [r, other] of [
        [restored, run],
        [backedUp, restore],
      ] as const) {
        if (r.code === 0) continue;
        assert.match(r.stderr, /HOLT_E_LOCKED/, what);
        assert.match(r.stderr, new RegExp(`pid ${other.child.pid} `), what);
      }
      assert.ok(restored.code === 0 || backedUp.code === 0, what);
      t.diagnostic(
        `+${offset} ms: restore ${restored.code === 0 ? "ran" : "locked out"}, backup run ${backedUp.code === 0 ? "ran" : "locked out"}`,
      );
      for (const name of snapshots(data()).filter((n) => !earlier.has(n))) {
        if (!name.startsWith("holt-")) continue;
        const files = filesOf(`${data()}@${name}`);
        assert.ok(
          isDeepStrictEqual(files, before) || isDeepStrictEqual(files, expected),
          `${name} holds the data before the restore or after it, nothing between (${what})`,
        );
      }
      assert.deepEqual(checksums(live()), restored.code === 0 ? expected : before, what);
      assert.equal(zfsGet(data(), "holt:restoring")?.[0], "-", what);
      assert.ok(healthy(), what);
    }
    rmSync(join(live(), "round.txt"), { force: true });
    backupNextHour();
  });

  test("a drill restores the newest offsite copy into scratch and finds it equal to its checksums; status shows every copy", () => {
    const newest = snapshotName(hour);
    const r = holt(["backup", "verify", "--json"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const [d] = (JSON.parse(r.stdout) as { drills: Drill[] }).drills;
    assert.equal(d?.ok, true, JSON.stringify(d));
    assert.equal(d?.from, "offsite");
    assert.equal(d?.snapshot, newest);
    assert.equal(d?.compared, "manifest");
    assert.ok((d?.files ?? 0) >= 3);
    assert.deepEqual(
      zfs("get", "-r", "-H", "-o", "name,source", "holt:scratch", source.name)
        .split("\n")
        .filter((l) => l.endsWith("\tlocal")),
      [],
      "the scratch copy is gone",
    );
    const status = holt(["backup", "status", "--json"]);
    assert.equal(status.code, 0, `${status.stdout}\n${status.stderr}`);
    const row = (JSON.parse(status.stdout) as { datasets: StatusRow[] }).datasets.find(
      (x) => x.dataset === data(),
    );
    assert.equal(row?.verdict, "3-2-1");
    assert.equal(row?.replicaCopy?.snapshot, newest);
    assert.equal(row?.offsiteCopy?.snapshot, newest);
    assert.equal(row?.verified?.snapshot, newest);
    assert.deepEqual(row?.problems, []);
    const human = holt(["backup", "status"]);
    assert.match(human.stdout, new RegExp(`verified ${newest}`));
  });

  test("a drill whose hooks.verify fails is recorded; status names it and exits 2", () => {
    const keep = join(live(), "keep.txt");
    rmSync(keep);
    try {
      backupNextHour();
      const r = holt(["backup", "verify", "--json"]);
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      const [d] = (JSON.parse(r.stdout) as { drills: Drill[] }).drills;
      assert.equal(d?.ok, false);
      assert.match(d?.error ?? "", /hooks\.verify \(sh -c test -s \/data\/keep\.txt\) failed/);
      const status = holt(["backup", "status", "--json"]);
      assert.equal(status.code, 2);
      const row = (JSON.parse(status.stdout) as { datasets: StatusRow[] }).datasets.find(
        (x) => x.dataset === data(),
      );
      assert.match(row?.problems.join("\n") ?? "", /the last restore drill failed/);
    } finally {
      writeFileSync(keep, "version 3\n");
    }
  });

  test("disaster: the pool is lost; restore --all --from offsite and apply bring the service back", () => {
    const last = backupNextHour();
    const expected = points.get(last);
    // The machine is gone: its container, its pool, its state folder.
    podman(["rm", "-f", "-t", "0", `holt-${service}`]);
    for (let i = 0; i < 50; i++) {
      if (spawnSync("zpool", ["destroy", "-f", source.name]).status === 0) break;
      spawnSync("sleep", ["0.2"]);
    }
    truncateSync(source.imagePath, 0);
    truncateSync(source.imagePath, 256 * 1024 * 1024);
    const made = spawnSync("zpool", ["create", "-f", source.name, source.imagePath], {
      encoding: "utf8",
    });
    assert.equal(made.status, 0, made.stderr);
    const fresh = { HOLT_STATE_DIR: mkdtempSync(join(tmpdir(), "holt-new-machine-")) };
    try {
      const r = holt(["restore", "--all", "--from", "offsite", "--yes"], fresh);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /Creating 2 missing datasets|Creating \d+ missing datasets/);
      assert.match(r.stderr, /no manifest was recorded/);
      assert.match(r.stdout, /Run `holt apply` to start the services/);
      assert.deepEqual(
        checksums(live()),
        expected,
        "checksum-identical data before the service starts",
      );
      const applied = holt(["apply", "--yes"], fresh);
      assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
      assert.ok(healthy(), "the service is back and healthy");
      assert.deepEqual(checksums(live()), expected);
    } finally {
      rmSync(fresh.HOLT_STATE_DIR, { recursive: true, force: true });
    }
  });
});
