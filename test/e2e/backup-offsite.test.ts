/**
 * Offsite copies with a real restic (a folder repository) from a zfs-fuse
 * pool, through the CLI under a test clock: the repository is created on
 * first use, each run copies the newest snapshot from a read-only clone,
 * a repeat is "up to date", forget follows the policy, the copy restores to
 * the snapshot's checksums, a wrong password fails clearly without copying,
 * and a lost pack is found by the check.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import { checksums, createLabFolder, type LabFolder, zfs, zfsGet } from "./harness.ts";

const lab = `os${process.pid}`;
const HOUR = 3_600_000;
const START = Date.UTC(2026, 10, 3, 0, 0, 0);
const PASSWORD = `restic-${randomBytes(8).toString("hex")}`;

let pool: TestPool;
let folder: LabFolder;
let repo: string;
let hour = 0;

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
  return spawnSync("restic", ["-r", repo, ...args], {
    encoding: "utf8",
    env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
  });
}

function mountpoint(): string {
  return zfsGet(data(), "mountpoint")?.[0] ?? "";
}

describe("offsite copies with restic (zfs-fuse + a restic folder repository)", () => {
  before(async () => {
    pool = await createTestPool({ sizeMb: 256 });
    repo = mkdtempSync(join(tmpdir(), "holt-restic-"));
    rmSync(repo, { recursive: true });
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
    if (repo !== undefined) rmSync(repo, { recursive: true, force: true });
  });

  test("the first run creates the repository and copies the snapshot; it restores byte for byte", () => {
    writeFileSync(join(mountpoint(), "a.bin"), randomBytes(500_000));
    writeFileSync(join(mountpoint(), "notes.txt"), "hello\n");
    const expected = checksums(mountpoint());
    hour += 1;
    const r = backup(["run"]);
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
      zfsGet(`${pool.name}/holt-offsite/${lab}-app-data`, "type"),
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
