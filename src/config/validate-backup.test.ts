import assert from "node:assert/strict";
import { test } from "node:test";
import { secret } from "./secret.ts";
import { validateLab } from "./validate.ts";

const HOSTS = {
  odroid: { stateRoot: "tank/holt" },
  nas: { address: "192.168.1.20", connect: { ssh: {} } },
};

function check(extra: Record<string, unknown>) {
  return validateLab({ domain: "lab.example.com", hosts: HOSTS, ...extra }, "/lab/holt.config.ts");
}

test("policies resolve with defaults; state entries get default, a named policy, or none", () => {
  const r = check({
    backups: {
      policies: {
        important: {
          snapshots: { hourly: 48, daily: 7 },
          replica: { to: "nas:backup/holt", keep: { daily: 90, monthly: 24, yearly: 5 } },
          offsite: { repository: "b2", keep: { daily: 30 } },
        },
      },
      repositories: {
        b2: {
          restic: "s3:https://s3.example.com/bucket/lab",
          password: secret("restic"),
          env: { AWS_ACCESS_KEY_ID: secret("b2-id"), AWS_DEFAULT_REGION: "eu-central-1" },
        },
      },
    },
    services: {
      app: {
        host: "odroid",
        state: {
          data: { path: "/data", backup: "important" },
          config: { path: "/config" },
          cache: { path: "/cache", backup: false },
        },
      },
    },
  });
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.problems));
  const { backups, services } = r.lab;
  assert.deepEqual(backups.policies.important, {
    name: "important",
    snapshots: { last: 0, hourly: 48, daily: 7, weekly: 0, monthly: 0, yearly: 0 },
    replica: {
      host: "nas",
      dataset: "backup/holt",
      keep: { last: 0, hourly: 0, daily: 90, weekly: 0, monthly: 24, yearly: 5 },
    },
    offsite: {
      repository: "b2",
      keep: { last: 0, hourly: 0, daily: 30, weekly: 0, monthly: 0, yearly: 0 },
    },
  });
  assert.deepEqual(backups.repositories.b2?.env, {
    AWS_ACCESS_KEY_ID: { secret: "b2-id" },
    AWS_DEFAULT_REGION: { value: "eu-central-1" },
  });
  assert.deepEqual(
    services.app?.state.map((s) => [s.name, s.backup]),
    [
      ["data", "important"],
      ["config", "default"],
      ["cache", null],
    ],
  );
});

test("references and values are checked, each with a fix", () => {
  const r = check({
    backups: {
      policies: {
        weird: { replica: { to: "nsa:backup/holt" }, offsite: { repository: "b3" } },
      },
      repositories: { b2: { restic: "ftp://old", password: secret("restic") } },
    },
    services: { app: { host: "odroid", state: { data: { path: "/data", backup: "wierd" } } } },
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.problems.map((p) => `${p.path}: ${p.message}`).sort(), [
    'backups.policies.weird.offsite.repository: "b3" is not a repository of backups.repositories. Did you mean "b2"?',
    'backups.policies.weird.replica.to: "nsa:backup/holt" is not "<host>:<dataset>" with a host of this lab and a dataset below a pool, like "nas:backup/holt". Did you mean host "nas"?',
    'backups.repositories.b2.restic: "ftp://old" is not a restic repository. Use an absolute path, or one of "sftp:…", "rest:…", "s3:…", "b2:…", "azure:…", "gs:…", "swift:…", "rclone:…".',
    'services.app.state.data.backup: "wierd" is not a policy of backups.policies. Did you mean "weird"? Or write backup: false.',
  ]);
});

test("a keep whose counts are all 0 is refused wherever a policy keeps snapshots, with the fix", () => {
  const r = check({
    backups: {
      policies: {
        empty: { snapshots: {} },
        zero: {
          snapshots: { hourly: 0 },
          replica: { to: "nas:backup/holt", keep: { daily: 0, yearly: 0 } },
          offsite: { repository: "b2", keep: {} },
        },
        // Refused beside a wrong reference too: one run shows every problem.
        wrong: { replica: { to: "nsa:backup/holt", keep: {} } },
      },
      repositories: { b2: { restic: "/srv/restic", password: secret("restic") } },
    },
  });
  assert.ok(!r.ok);
  const fix =
    "keeps no snapshot by count: every count is 0 (a count left out is 0). Write { last: 1 } to keep only the newest, or counts such as { hourly: 24, daily: 7 }, or leave it out for the default { hourly: 24, daily: 30, weekly: 8, monthly: 12 }.";
  assert.deepEqual(
    r.problems.map((p) => `${p.path}: ${p.message}`).sort(),
    [
      `backups.policies.empty.snapshots: {} ${fix}`,
      `backups.policies.wrong.replica.keep: {} ${fix}`,
      'backups.policies.wrong.replica.to: "nsa:backup/holt" is not "<host>:<dataset>" with a host of this lab and a dataset below a pool, like "nas:backup/holt". Did you mean host "nas"?',
      `backups.policies.zero.offsite.keep: {} ${fix}`,
      `backups.policies.zero.replica.keep: {"daily":0,"yearly":0} ${fix}`,
      `backups.policies.zero.snapshots: {"hourly":0} ${fix}`,
    ].sort(),
  );
});

test("keeps: { last: 1 } keeps only the newest, yearly counts, left-out keeps take the default, typos get a suggestion", () => {
  const ok = check({
    backups: {
      policies: {
        tiny: { snapshots: { last: 1 } },
        archive: { snapshots: { monthly: 12, yearly: 10 }, replica: { to: "nas:backup/holt" } },
      },
    },
  });
  assert.ok(ok.ok, ok.ok ? "" : JSON.stringify(ok.problems));
  assert.deepEqual(ok.lab.backups.policies.tiny?.snapshots, {
    last: 1,
    hourly: 0,
    daily: 0,
    weekly: 0,
    monthly: 0,
    yearly: 0,
  });
  assert.equal(ok.lab.backups.policies.archive?.snapshots.yearly, 10);
  assert.deepEqual(
    ok.lab.backups.policies.archive?.replica?.keep,
    { last: 0, hourly: 24, daily: 30, weekly: 8, monthly: 12, yearly: 0 },
    "a replica without keep keeps what the built-in default keeps",
  );

  // A misspelt count is reported as such (with its suggestion), not as a keep of all zeros.
  const typo = check({ backups: { policies: { p: { snapshots: { yearli: 5 } } } } });
  assert.ok(!typo.ok);
  assert.deepEqual(
    typo.problems.map((p) => p.path),
    ["backups.policies.p.snapshots.yearli"],
  );
  assert.match(typo.problems[0]?.message ?? "", /Did you mean "yearly"\?/);

  // A count the shape check refuses is reported by it alone: -1 is not "every count is 0".
  for (const snapshots of [{ hourly: -1 }, { daily: 0.5 }, { weekly: "4" }]) {
    const bad = check({ backups: { policies: { p: { snapshots } } } });
    assert.ok(!bad.ok);
    assert.deepEqual(
      bad.problems.map((p) => p.message.includes("every count is 0")),
      [false],
      JSON.stringify(bad.problems),
    );
  }
});

test("a repository's env may not set what holt sets for restic: TZ (restic runs in UTC), RESTIC_REPOSITORY, RESTIC_PASSWORD", () => {
  const r = check({
    backups: {
      repositories: {
        b2: {
          restic: "s3:https://s3.example.com/bucket",
          password: secret("restic"),
          env: {
            TZ: "Europe/Berlin",
            RESTIC_PASSWORD: "plain",
            RESTIC_REPOSITORY: "/elsewhere",
            AWS_DEFAULT_REGION: "eu-central-1",
          },
        },
      },
    },
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.problems.map((p) => `${p.path}: ${p.message}`).sort(), [
    'backups.repositories.b2.env.RESTIC_PASSWORD: "RESTIC_PASSWORD" is set by holt, from the repository\'s "password" secret. Remove it.',
    'backups.repositories.b2.env.RESTIC_REPOSITORY: "RESTIC_REPOSITORY" is set by holt, from the repository\'s "restic". Remove it.',
    'backups.repositories.b2.env.TZ: "TZ" is set by holt, to UTC, so that the times restic stores and the days, weeks and years `restic forget` counts are holt\'s. Remove it.',
  ]);
  // Names that merely look like an object's own (constructor, toString) are ordinary variables.
  const ok = check({
    backups: {
      repositories: {
        b2: {
          restic: "/srv/restic",
          password: secret("restic"),
          env: { constructor: "x", TZ_NAME: "y" },
        },
      },
    },
  });
  assert.ok(ok.ok, ok.ok ? "" : JSON.stringify(ok.problems));
  assert.deepEqual(Object.keys(ok.lab.backups.repositories.b2?.env ?? {}).sort(), [
    "TZ_NAME",
    "constructor",
  ]);
});
