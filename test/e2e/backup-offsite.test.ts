/**
 * Offsite copies with a real restic (a folder repository) from a zfs-fuse
 * pool, through the CLI under a test clock. The repository's folder is on a
 * dataset of its own, mounted as a NAS share would be: a run never creates
 * the repository (it fails, naming where it looked, and creates nothing),
 * `holt backup init-offsite` does; each run copies the newest snapshot from
 * a read-only clone, a repeat is "up to date", forget follows the policy,
 * the copy restores to the snapshot's checksums, a wrong password fails
 * clearly without copying, an unmounted share or a repository on another
 * file system at its path is refused, and a lost pack is found by the
 * check. Then two services whose names joined with "-" were the same
 * (`web` + `db-data`, `web-db` + `data`) are copied and drilled without
 * touching each other's scratch datasets, and a foreign dataset at a
 * scratch name is refused, never destroyed. Then, in another time zone
 * (holt under TZ=Europe/Berlin, and an SSH host whose sessions are in Berlin
 * time), across both of its DST nights: each copy carries its snapshot's UTC
 * time, and restic's forget groups the copies by holt's UTC days.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { decideRetention } from "../../src/model/retention.ts";
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

const lab = `os${process.pid}`;
const HOUR = 3_600_000;
const START = Date.UTC(2026, 10, 3, 0, 0, 0);
const PASSWORD = `restic-${randomBytes(8).toString("hex")}`;

let pool: TestPool;
let folder: LabFolder;
/** A folder with the share's mount point in it, and nothing else. */
let base: string;
/** The share's mount point, and the repository's folder on the share. */
let share: string;
let repo: string;
let hour = 0;

const shareDataset = () => `${pool.name}/nas`;

const data = () => `${pool.name}/holt/app/data`;
const keyEnv = (): NodeJS.ProcessEnv => ({ HOLT_AGE_KEY_FILE: join(folder.dir, "age.key") });

function config(): string {
  return `import { defineLab, secret } from "holt";
export default defineLab({
  domain: "lab.example.com",
  name: "${lab}",
  hosts: { box: { connect: "local", stateRoot: "${pool.name}/holt" } },
  backups: {
    policies: {
      default: { snapshots: { hourly: 3 }, offsite: { repository: "vault", keep: { hourly: 2 } } },
    },
    repositories: { vault: { restic: "${repo}", password: secret("restic-password") } },
  },
  services: { app: { host: "box", state: { data: { path: "/data" } } } },
});
`;
}

interface Copy {
  status: string;
  snapshot: string | null;
  resticSnapshot: string | null;
  forgotten: number;
  error: string | null;
}

function backup(args: string[]) {
  const r = folder.holt(["backup", ...args, "--json"], {
    ...keyEnv(),
    HOLT_TEST_NOW: new Date(START + hour * HOUR).toISOString(),
  });
  const body = JSON.parse(r.stdout || "{}") as {
    offsite?: Copy[];
    checks?: { ok: boolean; subset: string; error: string | null }[];
  };
  return { ...r, copies: body.offsite ?? [], checks: body.checks ?? [] };
}

function restic(...args: string[]) {
  return resticIn(repo, {}, ...args);
}

function resticIn(repository: string, env: NodeJS.ProcessEnv, ...args: string[]) {
  return spawnSync("restic", ["-r", repository, ...args], {
    encoding: "utf8",
    env: { ...process.env, RESTIC_PASSWORD: PASSWORD, ...env },
  });
}

function mountpoint(): string {
  return zfsGet(data(), "mountpoint")?.[0] ?? "";
}

describe("offsite copies with restic (zfs-fuse + a restic folder repository)", () => {
  before(async () => {
    pool = await createTestPool({ sizeMb: 256 });
    base = mkdtempSync(join(tmpdir(), "holt-restic-"));
    share = join(base, "nas");
    repo = join(share, "restic");
    zfs("create", "-o", `mountpoint=${share}`, shareDataset());
    folder = createLabFolder();
    folder.write(config());
    assert.equal(folder.holt(["secrets", "init"], keyEnv()).code, 0);
    folder.setSecret("restic-password", PASSWORD, keyEnv());
    const r = folder.holt(["apply", "--yes"], keyEnv());
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });

  after(async () => {
    await pool?.destroy();
    folder?.remove();
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
  });

  let expected: Record<string, string> = {};

  test("a run never creates the repository: the copy fails, says where holt looked, and nothing is made", () => {
    writeFileSync(join(mountpoint(), "a.bin"), randomBytes(500_000));
    writeFileSync(join(mountpoint(), "notes.txt"), "hello\n");
    expected = checksums(mountpoint());
    hour += 1;
    const r = backup(["run"]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.copies[0]?.status, "failed");
    assert.match(
      r.copies[0]?.error ?? "",
      new RegExp(
        `Repository "vault": holt looked for it at ${repo} on box, and that path does not exist \\(the nearest folder that does is on fuse\\.zfs ${shareDataset()} mounted at ${share}\\)\\. holt does not create a repository by itself\\..*run \`holt backup init-offsite vault\`\\. Nothing was copied\\.`,
      ),
    );
    assert.deepEqual(r.checks, [], "no check of a repository that is not there");
    assert.ok(!existsSync(repo), "the path was not created");
    assert.deepEqual(readdirSync(share), [], "nothing on the share");
    assert.deepEqual(readdirSync(base), ["nas"], "nothing beside it");
  });

  test("init-offsite creates it and records its file system; a run copies the snapshot, which restores byte for byte", () => {
    const init = folder.holt(["backup", "init-offsite", "vault", "--json"], keyEnv());
    assert.equal(init.code, 0, init.stderr);
    assert.deepEqual(JSON.parse(init.stdout).repositories, [
      {
        repository: "vault",
        host: "box",
        where: repo,
        action: "created",
        fileSystem: `fuse.zfs ${shareDataset()} mounted at ${share}`,
      },
    ]);
    assert.ok(existsSync(join(repo, "config")), "a restic repository");
    const again = folder.holt(["backup", "init-offsite", "vault"], keyEnv());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /vault at .* from box: already there, as recorded/);
    const r = backup(["offsite"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const [copy] = r.copies;
    assert.equal(copy?.status, "copied", JSON.stringify(r.copies));
    assert.equal(copy?.snapshot, "holt-20261103T010000Z");
    assert.ok(r.checks.length === 1 && r.checks[0]?.ok, JSON.stringify(r.checks));
    assert.equal(r.checks[0]?.subset, "2/24", "the subset follows the hour");

    const listed = JSON.parse(restic("snapshots", "--json").stdout) as {
      tags: string[];
      time: string;
      paths: string[];
    }[];
    assert.equal(listed.length, 1);
    assert.ok(listed[0]?.tags.includes("snapshot:holt-20261103T010000Z"));
    assert.match(listed[0]?.time ?? "", /^2026-11-03T01:00:00/, "restic's time is the snapshot's");
    assert.deepEqual(listed[0]?.paths, [`/var/lib/holt/offsite/${lab}/app/data`]);
    const out = mkdtempSync(join(tmpdir(), "holt-restore-"));
    try {
      const restored = restic("restore", "latest", "--target", out);
      assert.equal(restored.status, 0, restored.stderr);
      assert.deepEqual(checksums(join(out, `var/lib/holt/offsite/${lab}/app/data`)), expected);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    assert.equal(
      zfsGet(`${pool.name}/holt-offsite/${lab}/app/data`, "type"),
      null,
      "the clone is gone",
    );
  });

  test("a repeat is up to date; forget keeps what the policy says", () => {
    const again = backup(["offsite"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.copies[0]?.status, "up to date");
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(mountpoint(), `b${i}.txt`), `${i}\n`);
      hour += 1;
      const r = backup(["run"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.copies[0]?.status, "copied");
    }
    const tags = (JSON.parse(restic("snapshots", "--json").stdout) as { tags: string[] }[])
      .flatMap((s) => s.tags.filter((t) => t.startsWith("snapshot:")))
      .sort();
    assert.deepEqual(tags, ["snapshot:holt-20261103T030000Z", "snapshot:holt-20261103T040000Z"]);
  });

  test("a wrong password fails clearly, names the secret, never shows a value, and copies nothing", () => {
    folder.setSecret("restic-password", "not-the-password", keyEnv());
    try {
      writeFileSync(join(mountpoint(), "c.txt"), "c\n");
      hour += 1;
      const r = backup(["run"]);
      assert.equal(r.code, 1);
      assert.equal(r.copies[0]?.status, "failed");
      assert.match(
        r.copies[0]?.error ?? "",
        /the password \(secret "restic-password"\) does not open it/,
      );
      assert.ok(!`${r.stdout}${r.stderr}`.includes("not-the-password"));
      assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD));
      assert.equal((JSON.parse(restic("snapshots", "--json").stdout) as unknown[]).length, 2);
    } finally {
      folder.setSecret("restic-password", PASSWORD, keyEnv());
    }
    const fixed = backup(["offsite"]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(fixed.copies[0]?.status, "copied");
  });

  test("the share unmounted, or a repository on the root disk at its path: refused, nothing copied or created", () => {
    writeFileSync(join(mountpoint(), "e.txt"), "e\n");
    hour += 1;
    assert.equal(backup(["run"]).code, 0);
    zfs("unmount", shareDataset());
    try {
      hour += 1;
      const unmounted = backup(["run"]);
      assert.equal(unmounted.code, 1);
      assert.equal(unmounted.copies[0]?.status, "failed");
      assert.match(
        unmounted.copies[0]?.error ?? "",
        new RegExp(
          `holt looked for it at ${repo} on box, and that path does not exist \\(the nearest folder that does is on ext4 .*\\)\\. holt created it there on \\d{4}-\\d{2}-\\d{2}, on fuse\\.zfs ${shareDataset()} mounted at ${share}\\. Mount what holds it`,
        ),
      );
      assert.deepEqual(readdirSync(share), [], "nothing under the empty mount point");
      // Someone makes a repository at the path, on the root disk.
      mkdirSync(repo);
      assert.equal(restic("init").status, 0);
      const rogue = backup(["offsite"]);
      assert.equal(rogue.code, 1);
      assert.match(
        rogue.copies[0]?.error ?? "",
        new RegExp(
          `${repo} on box is on ext4 .*, but holt created it there on .*, on fuse\\.zfs ${shareDataset()} mounted at ${share}: what is at that path now is not that repository`,
        ),
      );
      assert.deepEqual(JSON.parse(restic("snapshots", "--json").stdout), [], "nothing copied");
      rmSync(repo, { recursive: true });
    } finally {
      zfs("mount", shareDataset());
    }
    const back = backup(["offsite"]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.copies[0]?.status, "copied", "the newest snapshot, once mounted again");
  });

  test("a lost pack is found by the check, which fails the run", () => {
    const packs = spawnSync("find", [join(repo, "data"), "-type", "f"], { encoding: "utf8" })
      .stdout.split("\n")
      .filter((l) => l !== "");
    assert.ok(packs.length > 0);
    // A pack lost (a disk, a sync tool, a provider): the check finds it without reading data.
    // The largest holds file data; a lost tree pack makes restic 0.14 retry it for minutes.
    packs.sort((a, b) => statSync(b).size - statSync(a).size);
    rmSync(packs[0] as string);
    const r = backup(["offsite"]);
    assert.equal(r.code, 1);
    assert.equal(r.checks[0]?.ok, false);
    assert.match(r.checks[0]?.error ?? "", /the check found damage/);
    assert.equal(zfs("list", "-H", "-o", "name", data()).trim(), data(), "the source is untouched");
  });
});

describe("services whose scratch names once collided (web + db-data, web-db + data)", () => {
  const other = `oc${process.pid}`;
  let pool2: TestPool;
  let lab2: LabFolder;
  let repo2: string;
  let at = 0;
  const env = (): NodeJS.ProcessEnv => ({
    HOLT_AGE_KEY_FILE: join(lab2.dir, "age.key"),
    HOLT_TEST_NOW: new Date(START + at * HOUR).toISOString(),
  });
  const dataset = (service: string, entry: string) => `${pool2.name}/holt/${service}/${entry}`;
  const dirOf = (service: string, entry: string) =>
    zfsGet(dataset(service, entry), "mountpoint")?.[0] ?? "";
  const pairs = [
    ["web", "db-data"],
    ["web-db", "data"],
  ] as const;

  before(async () => {
    pool2 = await createTestPool({ sizeMb: 256 });
    repo2 = mkdtempSync(join(tmpdir(), "holt-restic-"));
    rmSync(repo2, { recursive: true });
    lab2 = createLabFolder();
    lab2.write(`import { defineLab, secret } from "holt";
export default defineLab({
  domain: "lab.example.com",
  name: "${other}",
  hosts: { box: { connect: "local", stateRoot: "${pool2.name}/holt" } },
  backups: {
    policies: { default: { snapshots: { hourly: 5 }, offsite: { repository: "vault", keep: { hourly: 5 } } } },
    repositories: { vault: { restic: "${repo2}", password: secret("restic-password") } },
  },
  services: {
    web: { host: "box", state: { "db-data": { path: "/db" } } },
    "web-db": { host: "box", state: { data: { path: "/data" } } },
  },
});
`);
    assert.equal(lab2.holt(["secrets", "init"], env()).code, 0);
    lab2.setSecret("restic-password", PASSWORD, env());
    const applied = lab2.holt(["apply", "--yes"], env());
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
    const init = lab2.holt(["backup", "init-offsite", "vault"], env());
    assert.equal(init.code, 0, init.stderr);
  });

  after(async () => {
    await pool2?.destroy();
    lab2?.remove();
    if (repo2 !== undefined) rmSync(repo2, { recursive: true, force: true });
  });

  /** Datasets under the pool's scratch areas that carry holt's scratch mark, set on them. */
  function scratchLeft(): string[] {
    return zfs("get", "-r", "-H", "-o", "name,source", "holt:scratch", pool2.name)
      .split("\n")
      .filter((l) => l.endsWith("\tlocal"))
      .map((l) => l.split("\t")[0] ?? "");
  }

  test("manifests (both services at once), offsite copies and drills each keep to their own data", () => {
    const expected = new Map<string, Record<string, string>>();
    for (let round = 1; round <= 3; round++) {
      for (const [service, entry] of pairs) {
        writeFileSync(join(dirOf(service, entry), `${service}-${round}.bin`), randomBytes(50_000));
        expected.set(service, checksums(dirOf(service, entry)));
      }
      at += 1;
      const r = lab2.holt(["backup", "run", "--json"], env());
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const body = JSON.parse(r.stdout) as {
        services: { service: string; snapshot: string | null; error: string | null }[];
        offsite: Copy[];
      };
      assert.deepEqual(
        body.services.map((s) => [s.service, s.error]),
        [
          ["web", null],
          ["web-db", null],
        ],
      );
      assert.deepEqual(
        body.offsite.map((c) => c.status),
        ["copied", "copied"],
      );
    }
    for (const [service, entry] of pairs) {
      const out = mkdtempSync(join(tmpdir(), "holt-restore-"));
      try {
        const path = `/var/lib/holt/offsite/${other}/${service}/${entry}`;
        const r = spawnSync(
          "restic",
          ["-r", repo2, "restore", "latest", "--path", path, "--target", out],
          {
            encoding: "utf8",
            env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
          },
        );
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(checksums(join(out, path)), expected.get(service), service);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }
    const drills = lab2.holt(["backup", "verify", "--json"], env());
    assert.equal(drills.code, 0, `${drills.stdout}\n${drills.stderr}`);
    const results = (
      JSON.parse(drills.stdout) as { drills: { subject: string; ok: boolean; compared: string }[] }
    ).drills;
    assert.deepEqual(
      results.map((d) => [d.subject, d.ok, d.compared]),
      [
        [`box:${dataset("web", "db-data")}`, true, "manifest"],
        [`box:${dataset("web-db", "data")}`, true, "manifest"],
      ],
    );
    assert.deepEqual(scratchLeft(), [], "every scratch dataset is gone");
  });

  test("a dataset of someone else's at a scratch name is refused and kept; the other service goes on", () => {
    const foreign = `${pool2.name}/holt-verify/${other}/web/db-data`;
    const dir = mkdtempSync(join(tmpdir(), "holt-foreign-"));
    zfs("create", "-p", "-o", `mountpoint=${dir}`, foreign);
    try {
      writeFileSync(join(dir, "mine.txt"), "not holt's\n");
      const r = lab2.holt(["backup", "verify", "--json"], env());
      assert.equal(r.code, 1, r.stdout);
      const [web, webDb] = (
        JSON.parse(r.stdout) as { drills: { ok: boolean; error: string | null }[] }
      ).drills;
      assert.equal(web?.ok, false);
      assert.match(
        web?.error ?? "",
        new RegExp(
          `${foreign} on .* is where holt puts its verify scratch copy, but it is not holt's: it has no holt:scratch mark\\. holt leaves it alone`,
        ),
      );
      assert.equal(webDb?.ok, true, "web-db's drill is not disturbed");
      assert.equal(readFileSync(join(dir, "mine.txt"), "utf8"), "not holt's\n", "untouched");
      assert.equal(zfsGet(foreign, "type")?.[0], "filesystem", "still there");
    } finally {
      destroyWhenFree(foreign);
      rmSync(dir, { recursive: true, force: true });
    }
    const again = lab2.holt(["backup", "verify", "--json"], env());
    assert.equal(again.code, 0, again.stdout);
  });
});

describe("offsite copies on hosts in another time zone (holt, and an SSH host's sessions, in Europe/Berlin)", () => {
  const zoneLab = `oz${process.pid}`;
  const BERLIN = { TZ: "Europe/Berlin" };
  let zonePool: TestPool;
  let far: SshHost;
  let zoneFolder: LabFolder;
  let zoneRepo: string;
  const zoneKeyEnv = (): NodeJS.ProcessEnv => ({
    HOLT_AGE_KEY_FILE: join(zoneFolder.dir, "age.key"),
  });
  // One service on this machine, where restic would inherit holt's zone; one on an SSH host,
  // whose sessions have a zone of their own that holt's environment never reaches.
  const zoneConfig = () => `import { defineLab, secret } from "holt";
export default defineLab({
  domain: "lab.example.com",
  name: "${zoneLab}",
  hosts: {
    box: { connect: "local", stateRoot: "${zonePool.name}/box" },
    far: { address: "${far.address}", ${far.connectConfig}, stateRoot: "${zonePool.name}/far" },
  },
  backups: {
    policies: { default: { snapshots: { hourly: 24 }, offsite: { repository: "vault", keep: { daily: 2 } } } },
    repositories: { vault: { restic: "${zoneRepo}", password: secret("restic-password") } },
  },
  services: {
    near: { host: "box", state: { data: { path: "/data" } } },
    away: { host: "far", state: { data: { path: "/data" } } },
  },
});
`;
  const datasets = () => ({
    near: `${zonePool.name}/box/near/data`,
    away: `${zonePool.name}/far/away/data`,
  });

  before(async () => {
    [zonePool, far] = await Promise.all([createTestPool(), startSshHost({ env: BERLIN })]);
    zoneRepo = mkdtempSync(join(tmpdir(), "holt-restic-zone-"));
    rmSync(zoneRepo, { recursive: true });
    zoneFolder = createLabFolder();
    zoneFolder.write(zoneConfig());
    assert.equal(zoneFolder.holt(["secrets", "init"], zoneKeyEnv()).code, 0);
    zoneFolder.setSecret("restic-password", PASSWORD, zoneKeyEnv());
    const r = zoneFolder.holt(["apply", "--yes"], zoneKeyEnv());
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    // holt never creates a repository by itself: once, by hand, as a user would.
    const init = zoneFolder.holt(["backup", "init-offsite", "vault"], zoneKeyEnv());
    assert.equal(init.code, 0, `${init.stdout}\n${init.stderr}`);
  });

  after(async () => {
    await far?.stop();
    await zonePool?.destroy();
    zoneFolder?.remove();
    if (zoneRepo !== undefined) rmSync(zoneRepo, { recursive: true, force: true });
  });

  /** Per service, holt's snapshot names and restic's times for them, listed under Berlin time. */
  function copiesInRepository(): Map<string, Map<string, string>> {
    const listed = resticIn(zoneRepo, BERLIN, "snapshots", "--json");
    assert.equal(listed.status, 0, listed.stderr);
    const copies = new Map<string, Map<string, string>>();
    for (const s of JSON.parse(listed.stdout) as { tags: string[]; time: string }[]) {
      const service = s.tags.find((t) => t.startsWith("service:"))?.slice("service:".length);
      const name = s.tags.find((t) => t.startsWith("snapshot:"))?.slice("snapshot:".length);
      if (service === undefined || name === undefined) continue;
      copies.set(service, (copies.get(service) ?? new Map<string, string>()).set(name, s.time));
    }
    return copies;
  }

  test("the SSH host's sessions are in Berlin time, so the test means something there", () => {
    const r = spawnSync(
      "ssh",
      [
        ...["-F", "/dev/null", "-i", far.identityFile, "-o", "BatchMode=yes"],
        ...["-o", `UserKnownHostsFile=${far.knownHostsFile}`, "-o", "StrictHostKeyChecking=yes"],
        `root@${far.address}`,
        "date -d 2026-07-01T12:00:00Z +%z",
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "+0200");
  });

  test("each copy stores its snapshot's UTC time, on both DST nights; forget groups by UTC days", () => {
    // The spring night: "02:30" does not exist in Berlin on 29 March (restic in Berlin time
    // stores 01:30Z). The autumn night: 02:30 in Berlin comes twice (00:30Z and 01:30Z), and
    // 22:30Z on 24 October is already 25 October in Berlin.
    const times = [
      "2026-03-29T02:30:00Z",
      "2026-10-24T22:30:00Z",
      "2026-10-25T00:30:00Z",
      "2026-10-25T01:30:00Z",
      "2026-10-25T02:30:00Z",
    ];
    const nameOf = (time: string) => `holt-${time.replace(/[-:]/g, "")}`;
    for (const [i, time] of times.entries()) {
      for (const dataset of Object.values(datasets())) {
        writeFileSync(join(zfsGet(dataset, "mountpoint")?.[0] ?? "", `at-${i}.txt`), `${time}\n`);
      }
      const r = zoneFolder.holt(["backup", "run", "--json"], {
        ...zoneKeyEnv(),
        ...BERLIN,
        HOLT_TEST_NOW: time,
      });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const results = (JSON.parse(r.stdout) as { offsite: (Copy & { service: string })[] }).offsite;
      assert.deepEqual(
        results.map((c) => [c.service, c.status, c.snapshot]).sort(),
        [
          ["away", "copied", nameOf(time)],
          ["near", "copied", nameOf(time)],
        ],
        JSON.stringify(results),
      );
      // The zfs snapshots are named by their time; restic must have stored that same instant,
      // in UTC (a shifted or Berlin-offset time shows both services' strings here).
      for (const dataset of Object.values(datasets())) {
        const snapshot = `${dataset}@${nameOf(time)}`;
        assert.equal(zfs("list", "-H", "-t", "snapshot", "-o", "name", snapshot).trim(), snapshot);
      }
      const stored = copiesInRepository();
      assert.deepEqual(
        {
          near: stored.get("near")?.get(nameOf(time)),
          away: stored.get("away")?.get(nameOf(time)),
        },
        { near: time, away: time },
      );
    }

    // forget ran after each copy with { daily: 2 }: the newest of the two newest UTC days.
    // Grouped by Berlin days, 22:30Z would count for 25 October and 29 March's copy would stay.
    const holt = decideRetention(
      times.map((t) => ({ name: nameOf(t), createdMs: Date.parse(t), holt: true, held: false })),
      { last: 0, hourly: 0, daily: 2, weekly: 0, monthly: 0, yearly: 0 },
    );
    const expected = ["holt-20261024T223000Z", "holt-20261025T023000Z"];
    assert.deepEqual([...holt.keep.keys()].sort(), expected, "holt's own retention");
    const copies = copiesInRepository();
    for (const service of ["near", "away"]) {
      assert.deepEqual([...(copies.get(service)?.keys() ?? [])].sort(), expected, service);
    }
    // restic groups by the time it stored, not by the zone forget runs in: by hand, in Berlin
    // time, the same policy removes nothing more from either group.
    const byHand = resticIn(
      zoneRepo,
      BERLIN,
      "forget",
      "--dry-run",
      "--json",
      "--group-by",
      "host,paths",
      "--keep-last",
      "1",
      "--keep-daily",
      "2",
    );
    assert.equal(byHand.status, 0, byHand.stderr);
    const line = byHand.stdout.split("\n").find((l) => l.startsWith("["));
    const groups = JSON.parse(line ?? "null") as { remove: unknown[] | null }[];
    assert.deepEqual(
      groups.map((g) => g.remove?.length ?? 0),
      [0, 0],
    );
  });
});
