/**
 * A saved plan is a proposal, not a program, against a real host over SSH
 * (sshd in its own network namespace) and real zfs-fuse datasets: a plan
 * file that was tampered with (a release turned into a delete, another
 * known_hosts file, another host address, an extra step, another field
 * value) is refused, naming the first difference, and nothing changes on the
 * system; the untouched file applies. `--allow-data-loss` counts only on the
 * command line. Plan files are never written through a symbolic link and are
 * 0600 even when the file existed; the journal and the state folder are
 * private.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type SshHost, startSshHost } from "../peers/sshd.ts";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import {
  BIN,
  createLabFolder,
  datasetsUnder,
  type LabFolder,
  snapshotsUnder,
  zfs,
  zfsGet,
} from "./harness.ts";

/** The lab is named after its pool, as a DNS label ("_" is not one). */
const labOf = (pool: string): string => pool.replaceAll("_", "-");

let pool: TestPool;
let lab: LabFolder;
let ssh: SshHost;

before(async () => {
  ssh = await startSshHost();
  pool = await createTestPool();
  lab = createLabFolder();
  zfs("create", `${pool.name}/handmade`);
});

after(async () => {
  lab?.remove();
  await pool?.destroy();
  await ssh?.stop();
});

interface Shape {
  keepQuota: string;
  gone?: boolean;
  doomed?: boolean;
  name?: string;
}

const config = (p: string, shape: Shape) => `import { defineLab } from "holt";
export default defineLab({
  domain: "plan.example.com",
  name: "${shape.name ?? labOf(p)}",
  hosts: {
    box: {
      address: "${ssh.address}", ${ssh.connectConfig},
      stateRoot: "${p}/holt",
      datasets: {
        "${p}/keep": { quota: "${shape.keepQuota}" },
        ${shape.gone === false ? "" : `"${p}/gone": {},`}
        ${shape.doomed === false ? "" : `"${p}/doomed": {},`}
      },
    },
  },
});
`;

/** What a refused apply must leave exactly as it was: datasets, properties, snapshots. */
function systemState(p: string): string {
  const props = "quota,holt:managed,holt:service,holt:props,mountpoint";
  return [
    ...datasetsUnder(p),
    zfs("get", "-H", "-p", "-r", "-o", "name,property,value,source", props, p),
    ...snapshotsUnder(p),
  ].join("\n");
}

function applies(): number {
  const r = lab.holt(["history", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { applies: unknown[] }).applies.length;
}

type Json = Record<string, unknown>;
type Change = Json & { address: string; action: string };

/** A copy of a plan file with `edit` applied and its summary counted again, as a careful forger would. */
function tamper(file: string, name: string, edit: (plan: Json) => void): string {
  const plan = JSON.parse(readFileSync(file, "utf8")) as Json;
  edit(plan);
  const changes = plan.changes as Change[];
  const count = (action: string) => changes.filter((c) => c.action === action).length;
  plan.summary = {
    add: count("create"),
    change: count("update"),
    replace: count("replace"),
    destroy: count("delete"),
    release: count("release"),
  };
  const out = join(lab.dir, name);
  writeFileSync(out, JSON.stringify(plan, null, 2));
  return out;
}

const changeOf = (plan: Json, suffix: string): Change => {
  const found = (plan.changes as Change[]).find((c) => c.address.endsWith(suffix));
  assert.ok(found, `a change for ${suffix}`);
  return found;
};
const hostBox = (plan: Json): Json & { address: string; connect: Json } =>
  (plan.hosts as (Json & { name: string; address: string; connect: Json })[]).find(
    (h) => h.name === "box",
  ) ?? assert.fail("host box in the plan");

function refusedAndUnchanged(file: string, message: RegExp, flags: string[] = []): string {
  const p = pool.name;
  const before = systemState(p);
  const history = applies();
  const r = lab.holt(["apply", file, ...flags]);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /\[HOLT_E_PLAN_STALE\]/);
  assert.match(r.stderr, message);
  assert.match(r.stderr, /Nothing was changed\./);
  assert.equal(systemState(p), before, "the system is exactly as it was");
  assert.equal(applies(), history, "no apply was recorded");
  return r.stderr;
}

let planFile: string;

test("setup: a lab over SSH, then a plan saved to a file (one update, one release)", () => {
  const p = pool.name;
  lab.write(config(p, { keepQuota: "100M" }));
  const apply = lab.holt(["apply", "--yes"]);
  assert.equal(apply.code, 0, apply.stderr);
  assert.deepEqual(zfsGet(`${p}/gone`, "holt:managed"), [labOf(p), "local"]);

  lab.write(config(p, { keepQuota: "200M", gone: false }));
  planFile = join(lab.dir, "plan.json");
  const saved = lab.holt(["plan", "--out", planFile]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.match(saved.stderr, new RegExp(`Saved the plan to ${planFile}`));
  const plan = JSON.parse(readFileSync(planFile, "utf8")) as Json;
  assert.equal(plan.formatVersion, "2");
  assert.equal(changeOf(plan, `/${p}/keep`).action, "update");
  assert.equal(changeOf(plan, `/${p}/gone`).action, "release");
  assert.equal(statSync(planFile).mode & 0o777, 0o600);
});

test("tampered (a): a release turned into a delete is refused; the dataset stays, still managed", () => {
  const p = pool.name;
  const file = tamper(planFile, "a.json", (plan) => {
    const gone = changeOf(plan, `/${p}/gone`);
    gone.action = "delete";
    gone.dataLoss = true;
  });
  refusedAndUnchanged(
    file,
    new RegExp(
      `dataset ${p}/gone on host box: the saved plan says "delete", a fresh plan says "release"`,
    ),
  );
  assert.deepEqual(zfsGet(`${p}/gone`, "holt:managed"), [labOf(p), "local"]);
});

test("tampered (b): another known_hosts file is refused before holt connects", () => {
  // It vouches for another machine's key at the host's address: had holt connected with it,
  // the host key check would have failed instead of the comparison.
  const forged = join(lab.dir, "forged_host_key");
  execFileSync("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", forged]);
  const [type, key] = readFileSync(`${forged}.pub`, "utf8").split(" ");
  const other = join(lab.dir, "other_known_hosts");
  writeFileSync(other, `${ssh.address} ${type} ${key}\n`);
  const file = tamper(planFile, "b.json", (plan) => {
    hostBox(plan).connect.knownHostsFile = other;
  });
  refusedAndUnchanged(
    file,
    new RegExp(
      `host box: the saved plan checks its host key against the known_hosts file "${other}", the config against "${ssh.knownHostsFile}"`,
    ),
  );
});

test("tampered (c): another host address is refused before holt connects", () => {
  const file = tamper(planFile, "c.json", (plan) => {
    hostBox(plan).address = "10.231.255.254";
  });
  refusedAndUnchanged(
    file,
    new RegExp(
      `host box: the saved plan reaches it as root@10\\.231\\.255\\.254:22, the config as root@${ssh.address.replaceAll(".", "\\.")}:22`,
    ),
  );
});

test("tampered (d): an extra step is refused, even with --allow-data-loss", () => {
  const p = pool.name;
  const file = tamper(planFile, "d.json", (plan) => {
    // With --allow-data-loss a fresh plan deletes p/gone: the forger matches that, and adds.
    const gone = changeOf(plan, `/${p}/gone`);
    gone.action = "delete";
    gone.dataLoss = true;
    (plan.changes as Change[]).push({
      address: `zfs.dataset:box/${p}/handmade`,
      type: "zfs.dataset",
      noun: "dataset",
      action: "delete",
      host: "box",
      service: null,
      name: `${p}/handmade`,
      fields: [],
      after: [],
      dataLoss: true,
      desired: null,
    });
  });
  refusedAndUnchanged(
    file,
    new RegExp(
      `dataset ${p}/handmade on host box: the saved plan says "delete", a fresh plan leaves it alone`,
    ),
    ["--allow-data-loss"],
  );
  assert.ok(datasetsUnder(p).includes(`${p}/handmade`));
});

test("tampered (e): another field value is refused; the quota stays", () => {
  const p = pool.name;
  const file = tamper(planFile, "e.json", (plan) => {
    const keep = changeOf(plan, `/${p}/keep`);
    (keep.fields as Json[])[0] = { path: "quota", before: "100M", after: "1G" };
  });
  refusedAndUnchanged(
    file,
    new RegExp(
      `dataset ${p}/keep on host box, quota: the saved plan says "100M" → "1G", a fresh plan says "100M" → "200M"`,
    ),
  );
  assert.deepEqual(zfsGet(`${p}/keep`, "quota"), [String(100 * 1024 * 1024), "local"]);
});

test("a plan made from another config file, or for another lab, is refused", () => {
  const p = pool.name;
  const folder = join(lab.dir, "copy");
  mkdirSync(folder);
  const copy = join(folder, "holt.config.ts");
  writeFileSync(copy, readFileSync(join(lab.dir, "holt.config.ts")));
  // Saved with --config, the apply line it suggests carries it too.
  const copied = join(folder, "copied plan.json");
  const saved = lab.holt(["plan", "--out", copied, "--config", copy]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.ok(
    saved.stderr.includes(`Apply it with: holt apply '${copied}' --config ${copy} (it runs only`),
    saved.stderr,
  );
  const r = lab.holt(["apply", planFile, "--config", copy]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /\[HOLT_E_PLAN_FILE\]/);
  assert.match(
    r.stderr,
    new RegExp(`the saved plan was made from ${lab.dir}/holt.config.ts, the config is ${copy}`),
  );
  writeFileSync(copy, config(p, { keepQuota: "200M", gone: false, name: `${labOf(p)}-other` }));
  const other = lab.holt(["apply", planFile, "--config", copy]);
  assert.equal(other.code, 1, other.stderr);
  assert.match(other.stderr, /\[HOLT_E_PLAN_FILE\]/);
  assert.match(
    other.stderr,
    new RegExp(`the saved plan is for lab "${labOf(p)}", the config is lab "${labOf(p)}-other"`),
  );
  assert.deepEqual(zfsGet(`${p}/keep`, "quota"), [String(100 * 1024 * 1024), "local"]);
});

test("the config the file names is never opened: from a folder without one, holt asks for --config", () => {
  const p = pool.name;
  // A config is code: one that leaves a mark when it is loaded.
  const evil = join(lab.dir, "evil");
  mkdirSync(evil);
  const mark = join(evil, "loaded");
  writeFileSync(
    join(evil, "holt.config.ts"),
    `import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(mark)}, "ran");\n${config(p, { keepQuota: "200M", gone: false })}`,
  );
  const file = tamper(planFile, "evil.json", (plan) => {
    plan.configFile = join(evil, "holt.config.ts");
  });
  const before = systemState(p);
  const elsewhere = join(lab.dir, "elsewhere");
  mkdirSync(elsewhere);
  const env = { ...process.env, NO_COLOR: "1", HOLT_STATE_DIR: lab.stateDir };
  for (const [cwd, code] of [
    [elsewhere, "HOLT_E_CONFIG_NOT_FOUND"],
    [lab.dir, "HOLT_E_PLAN_FILE"],
  ] as const) {
    const r = spawnSync(process.execPath, [BIN, "apply", file], {
      cwd,
      env,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`\\[${code}\\]`));
    if (cwd === elsewhere) {
      assert.match(
        r.stderr,
        new RegExp(
          `No holt.config.ts in ${elsewhere}\\. \`holt apply ${file}\` checks the plan against a fresh one from its config, found as \`holt plan\` finds it: run it in the folder of the config the plan was made from, or pass --config FILE\\.`,
        ),
      );
    }
  }
  assert.equal(existsSync(mark), false, "the config the plan names was not loaded");
  assert.equal(systemState(p), before);
});

test("the untouched plan file applies: the fresh plan's steps run", () => {
  const p = pool.name;
  const history = applies();
  const r = lab.holt(["apply", planFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Apply complete: 2 done/);
  assert.deepEqual(zfsGet(`${p}/keep`, "quota"), [String(200 * 1024 * 1024), "local"]);
  assert.ok(datasetsUnder(p).includes(`${p}/gone`), "released, not destroyed");
  assert.notEqual(zfsGet(`${p}/gone`, "holt:managed")?.[1], "local");
  assert.equal(applies(), history + 1);
  assert.equal(lab.holt(["plan", "--detailed-exitcode"]).code, 0, "nothing left to do");
  // Applied twice by mistake: refused, and told why.
  refusedAndUnchanged(
    planFile,
    /a fresh plan has no changes, the saved plan has 2: the systems already match the config \(zfs\.dataset:.*: (existed|did not exist) at plan time, (is different|exists) now\)\. Was this plan applied already, or its changes made by hand\?/,
  );
});

test("--allow-data-loss comes from the command line only: a file planned with it gives nothing", () => {
  const p = pool.name;
  lab.write(config(p, { keepQuota: "200M", gone: false, doomed: false }));
  const lossy = join(lab.dir, "lossy.json");
  const saved = lab.holt(["plan", "--out", lossy, "--allow-data-loss"]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.match(saved.stderr, /holt apply .*lossy\.json --allow-data-loss/);
  const stderr = refusedAndUnchanged(
    lossy,
    new RegExp(
      `dataset ${p}/doomed on host box: the saved plan says "delete", a fresh plan says "release"`,
    ),
  );
  assert.match(stderr, /pass --allow-data-loss to holt apply as well/);
  assert.deepEqual(zfsGet(`${p}/doomed`, "holt:managed"), [labOf(p), "local"]);

  const r = lab.holt(["apply", lossy, "--allow-data-loss"]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!datasetsUnder(p).includes(`${p}/doomed`), "destroyed, as the command line allowed");
  assert.equal(
    datasetsUnder(p).filter((d) => d.startsWith(`${p}/holt-trash/`) && d.endsWith("_doomed"))
      .length,
    1,
    "moved to the trash with its safety snapshot",
  );
});

test("plan --out refuses a symbolic link, and makes an existing 0644 file 0600", () => {
  const target = join(lab.dir, "target.txt");
  writeFileSync(target, "precious\n");
  const link = join(lab.dir, "link.json");
  symlinkSync(target, link);
  const refused = lab.holt(["plan", "--out", link]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /\[HOLT_E_PLAN_FILE\]/);
  assert.match(refused.stderr, /is a symbolic link, and holt does not write a plan through one/);
  assert.equal(readFileSync(target, "utf8"), "precious\n");

  const existing = join(lab.dir, "existing.json");
  writeFileSync(existing, "{}\n");
  chmodSync(existing, 0o644);
  const r = lab.holt(["plan", "--out", existing]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((statSync(existing).mode & 0o777).toString(8), "600");
  assert.equal((JSON.parse(readFileSync(existing, "utf8")) as Json).kind, "holt-plan");
});

test("the lab's state folder is 0700 and its journal 0600", () => {
  const dir = join(lab.stateDir, labOf(pool.name));
  assert.equal((statSync(dir).mode & 0o777).toString(8), "700");
  assert.equal((statSync(join(dir, "journal.db")).mode & 0o777).toString(8), "600");
});
