/**
 * The ZFS dataset journey, shared by the local run and the run against a
 * second host over SSH: create a tree, change one property, inherit a removed
 * property, release, destroy with --allow-data-loss, bound saved plans, and
 * never touch what holt does not own.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import {
  createLabFolder,
  datasetsUnder,
  type LabFolder,
  snapshotsUnder,
  zfs,
  zfsGet,
} from "./harness.ts";

export interface SuiteHost {
  /** The host block's connection lines, e.g. `connect: "local"`. */
  readonly connection: string;
  readonly stop?: () => Promise<void>;
}

interface Datasets {
  media?: string;
  photos?: string;
  extra?: string;
}

/** The lab named after its pool, as a lab name must be: a DNS label ("_" becomes "-"). */
const labName = (pool: string) => pool.replaceAll("_", "-");

export function datasetSuite(label: string, startHost: () => Promise<SuiteHost>): void {
  let pool: TestPool;
  let lab: LabFolder;
  let host: SuiteHost;

  const config = (p: string, d: Datasets = {}) => `import { defineLab } from "holt";
export default defineLab({
  domain: "lab.example.com",
  // Tests share one zfs-fuse: a lab name per pool keeps parallel files apart.
  name: "${labName(p)}",
  hosts: {
    box: {
      ${host.connection},
      stateRoot: "${p}/holt",
      datasets: {
        "${p}/media": { ${d.media ?? 'recordsize: "128K", compression: "on", quota: "200M", atime: "off"'} },
        "${p}/media/photos": { ${d.photos ?? 'properties: { "com.example:owner": "ciaran" }'} },
        ${d.extra ?? ""}
      },
    },
  },
  services: {
    jellyfin: { host: "box", state: { config: { path: "/config", quota: "50M" }, cache: { path: "/cache" } } },
  },
});
`;

  before(async () => {
    host = await startHost();
    pool = await createTestPool();
    lab = createLabFolder();
    // Made by hand, beside and inside holt's datasets: holt must never touch these.
    zfs("create", "-o", "compression=gzip", `${pool.name}/handmade`);
  });

  after(async () => {
    lab?.remove();
    await pool?.destroy();
    await host?.stop?.();
  });

  test(`${label}: a nested dataset tree with properties is created in order`, () => {
    const p = pool.name;
    lab.write(config(p));
    const plan = lab.holt(["plan", "--detailed-exitcode"]);
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(
      plan.stdout,
      /Plan: 6 to add, 0 to change, 0 to replace, 0 to destroy, 0 to release\./,
    );
    const apply = lab.holt(["apply", "--yes"]);
    assert.equal(apply.code, 0, apply.stderr);
    assert.deepEqual(zfsGet(`${p}/media`, "recordsize"), ["131072", "local"]);
    assert.deepEqual(zfsGet(`${p}/media`, "quota"), [String(200 * 1024 * 1024), "local"]);
    assert.deepEqual(zfsGet(`${p}/media`, "atime"), ["off", "local"]);
    assert.deepEqual(zfsGet(`${p}/media/photos`, "com.example:owner"), ["ciaran", "local"]);
    assert.deepEqual(zfsGet(`${p}/holt/jellyfin/config`, "quota"), [
      String(50 * 1024 * 1024),
      "local",
    ]);
    assert.deepEqual(zfsGet(`${p}/holt/jellyfin`, "holt:service"), ["jellyfin", "local"]);
    for (const d of [
      "media",
      "media/photos",
      "holt",
      "holt/jellyfin",
      "holt/jellyfin/config",
      "holt/jellyfin/cache",
    ]) {
      assert.deepEqual(zfsGet(`${p}/${d}`, "holt:managed"), [labName(p), "local"], d);
    }
    const again = lab.holt(["plan", "--detailed-exitcode"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /No changes\./);
  });

  test(`${label}: a property value with tabs and line breaks on a dataset that is not holt's does not break the plan`, () => {
    const p = pool.name;
    // The user property the config sets on photos, so holt asks for it of every dataset.
    zfs("set", "com.example:owner=first line\n\tsecond line\twith a tab\n", `${p}/handmade`);
    // One holt does not ask for, holding a line made to look like zfs get output.
    zfs(
      "set",
      `org.example:note=x\n${p}/handmade\tholt:managed\tlocal\t${labName(p)}`,
      `${p}/handmade`,
    );
    const plan = lab.holt(["plan", "--detailed-exitcode"]);
    assert.equal(plan.code, 0, `${plan.stderr}${plan.stdout}`);
    assert.match(plan.stdout, /No changes\./);
    // And still right: a change to the same property on holt's dataset is exactly that.
    lab.write(config(p, { photos: 'properties: { "com.example:owner": "someone else" }' }));
    const changed = lab.holt(["plan", "--json"]);
    assert.equal(changed.code, 0, changed.stderr);
    const body = JSON.parse(changed.stdout) as {
      changes: { address: string; action: string; fields: unknown[] }[];
    };
    assert.deepEqual(
      body.changes.map((c) => [c.action, c.address, c.fields]),
      [
        [
          "update",
          `zfs.dataset:box/${p}/media/photos`,
          [{ path: "com.example:owner", before: "ciaran", after: "someone else" }],
        ],
      ],
    );
    lab.write(config(p));
    zfs("inherit", "com.example:owner", `${p}/handmade`);
    zfs("inherit", "org.example:note", `${p}/handmade`);
  });

  test(`${label}: changing one property shows exactly one ~ line with old → new`, () => {
    const p = pool.name;
    lab.write(
      config(p, { media: 'recordsize: "64K", compression: "on", quota: "200M", atime: "off"' }),
    );
    const plan = lab.holt(["plan", "--detailed-exitcode"]);
    assert.equal(plan.code, 2, plan.stderr);
    const marked = plan.stdout.split("\n").filter((l) => /^\s+(\+|~|-\/\+|-|<) dataset /.test(l));
    assert.deepEqual(
      marked.map((l) => l.trim()),
      [`~ dataset ${p}/media`],
    );
    assert.match(plan.stdout, /recordsize: 128K → 64K/);
    const json = lab.holt(["plan", "--json"]);
    const body = JSON.parse(json.stdout) as {
      formatVersion: string;
      changes: { action: string; fields: unknown[] }[];
    };
    assert.equal(body.formatVersion, "1");
    assert.equal(body.changes.length, 1);
    assert.deepEqual(body.changes[0]?.fields, [
      { path: "recordsize", before: "128K", after: "64K" },
    ]);
    assert.equal(lab.holt(["apply", "--yes"]).code, 0);
    assert.deepEqual(zfsGet(`${p}/media`, "recordsize"), ["65536", "local"]);
    const after = lab.holt(["plan", "--detailed-exitcode"]);
    assert.equal(after.code, 0, after.stdout);
  });

  test(`${label}: a property removed from the config is inherited`, () => {
    const p = pool.name;
    lab.write(config(p, { media: 'recordsize: "64K", compression: "on", quota: "200M"' }));
    const plan = lab.holt(["plan"]);
    assert.match(plan.stdout, /atime: off → \(inherit\)/);
    assert.equal(lab.holt(["apply", "--yes"]).code, 0);
    assert.notEqual(zfsGet(`${p}/media`, "atime")?.[1], "local");
    assert.equal(lab.holt(["plan", "--detailed-exitcode"]).code, 0);
  });

  test(`${label}: drift made by hand shows up and is repaired`, () => {
    const p = pool.name;
    zfs("set", "compression=gzip", `${p}/media`);
    const plan = lab.holt(["plan", "--detailed-exitcode"]);
    assert.equal(plan.code, 2);
    assert.match(plan.stdout, /compression: gzip → on/);
    assert.equal(lab.holt(["apply", "--yes"]).code, 0);
    assert.deepEqual(zfsGet(`${p}/media`, "compression"), ["on", "local"]);
  });

  test(`${label}: a saved plan is refused once a dataset changed by hand`, () => {
    const p = pool.name;
    lab.write(config(p, { media: 'recordsize: "32K", compression: "on", quota: "200M"' }));
    const planFile = `${lab.dir}/change.plan`;
    assert.equal(lab.holt(["plan", "--out", planFile]).code, 0);
    zfs("set", "quota=300M", `${p}/media`);
    const apply = lab.holt(["apply", planFile]);
    assert.equal(apply.code, 1);
    assert.match(apply.stderr, /HOLT_E_PLAN_STALE/);
    assert.match(apply.stderr, new RegExp(`zfs\\.dataset:box/${p}/media`));
    assert.deepEqual(zfsGet(`${p}/media`, "recordsize"), ["65536", "local"], "nothing applied");
    // A fresh plan applies, and a saved plan with nothing changed in between applies exactly.
    assert.equal(lab.holt(["plan", "--out", planFile]).code, 0);
    const ok = lab.holt(["apply", planFile]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(zfsGet(`${p}/media`, "recordsize"), ["32768", "local"]);
    assert.deepEqual(zfsGet(`${p}/media`, "quota"), [String(200 * 1024 * 1024), "local"]);
  });

  test(`${label}: a saved plan from nothing is refused when the dataset appeared meanwhile`, () => {
    const p = pool.name;
    lab.write(
      config(p, {
        media: 'recordsize: "32K", compression: "on", quota: "200M"',
        extra: `"${p}/media/new": {},`,
      }),
    );
    const planFile = `${lab.dir}/create.plan`;
    assert.equal(lab.holt(["plan", "--out", planFile]).code, 0);
    zfs("create", `${p}/media/new`);
    const apply = lab.holt(["apply", planFile]);
    assert.equal(apply.code, 1);
    assert.match(apply.stderr, /HOLT_E_PLAN_STALE/);
    assert.match(
      apply.stderr,
      /did not exist at plan time, exists now\)\. Was this plan applied already, or its changes made by hand\?/,
    );
    // Made by hand, so holt offers to adopt it rather than claiming it.
    const plan = lab.holt(["plan"]);
    assert.match(plan.stdout, new RegExp(`holt adopt zfs\\.dataset:box/${p}/media/new`));
    const adopt = lab.holt(["adopt", `zfs.dataset:box/${p}/media/new`, "--yes"]);
    assert.equal(adopt.code, 0, adopt.stderr);
    assert.deepEqual(zfsGet(`${p}/media/new`, "holt:managed"), [labName(p), "local"]);
  });

  test(`${label}: a dataset removed from the config is released with its data`, () => {
    const p = pool.name;
    const mount = zfsGet(`${p}/media/new`, "mountpoint")?.[0] ?? "";
    writeFileSync(`${mount}/keep.txt`, "precious");
    lab.write(config(p, { media: 'recordsize: "32K", compression: "on", quota: "200M"' }));
    const plan = lab.holt(["plan"]);
    assert.match(plan.stdout, new RegExp(`< dataset ${p}/media/new`));
    assert.match(plan.stdout, /0 to destroy, 1 to release/);
    assert.equal(lab.holt(["apply", "--yes"]).code, 0);
    assert.ok(datasetsUnder(p).includes(`${p}/media/new`));
    assert.equal(readFileSync(`${mount}/keep.txt`, "utf8"), "precious");
    assert.notEqual(zfsGet(`${p}/media/new`, "holt:managed")?.[1], "local");
    assert.equal(
      lab.holt(["plan", "--detailed-exitcode"]).code,
      0,
      "released datasets are left alone",
    );
  });

  test(`${label}: --allow-data-loss takes a safety snapshot, then destroys`, () => {
    const p = pool.name;
    const mount = zfsGet(`${p}/media/photos`, "mountpoint")?.[0] ?? "";
    writeFileSync(`${mount}/photo.jpg`, "pixels");
    lab.write(
      config(p, { media: 'recordsize: "32K", compression: "on", quota: "200M"' }).replace(
        /^.*media\/photos.*$/m,
        "",
      ),
    );
    const plan = lab.holt(["plan"]);
    assert.match(plan.stdout, /< dataset .*photos/, "without the flag it is a release");
    const lossy = lab.holt(["plan", "--allow-data-loss"]);
    assert.match(
      lossy.stdout,
      new RegExp(`- dataset ${p}/media/photos\\s+DESTROYS DATA: [0-9.]+[KMG] used`),
    );
    const refused = lab.holt(["apply", "--yes"], {});
    assert.equal(refused.code, 0, "plain apply releases");
    // Put it back under management, then destroy it for real.
    assert.equal(
      lab.holt(["adopt", `zfs.dataset:box/${p}/media/photos`, "--yes"]).code,
      1,
      "not declared any more, so not adoptable",
    );
    zfs("set", `holt:managed=${labName(p)}`, `${p}/media/photos`);
    const destroy = lab.holt(["apply", "--yes", "--allow-data-loss"]);
    assert.equal(destroy.code, 0, destroy.stderr);
    assert.ok(!datasetsUnder(p).includes(`${p}/media/photos`));
    const trash = datasetsUnder(p).filter((d) => d.startsWith(`${p}/holt-trash/`));
    assert.equal(trash.length, 1);
    const safety = snapshotsUnder(p).filter((s) => s.startsWith(`${trash[0]}@holt-safety-`));
    assert.equal(safety.length, 1, "the safety snapshot travels with the data");
    assert.deepEqual(zfsGet(trash[0] ?? "", "holt:trashed-from"), [`${p}/media/photos`, "local"]);
    assert.equal(lab.holt(["plan", "--detailed-exitcode"]).code, 0, "trash is not planned again");
  });

  test(`${label}: datasets made by hand are never touched`, () => {
    const p = pool.name;
    assert.deepEqual(zfsGet(`${p}/handmade`, "compression"), ["gzip", "local"]);
    assert.notEqual(zfsGet(`${p}/handmade`, "holt:managed")?.[1], "local");
    const plan = lab.holt(["plan", "--allow-data-loss"]);
    assert.doesNotMatch(plan.stdout, /handmade/);
    assert.ok(existsSync(zfsGet(`${p}/handmade`, "mountpoint")?.[0] ?? "/nonexistent"));
  });
}
