import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeRestoreMark, type RestoreMark } from "./run.ts";

const cases: [string, number | null, string, string, RestoreMark][] = [
  [
    "no dataset carries the mark",
    0,
    "tank/holt/app\t-\ntank/holt/app/db\t-\n",
    "",
    { kind: "none" },
  ],
  [
    "an entry marked by a restore",
    0,
    "tank/holt/app\t-\ntank/holt/app/db\tlocal\n",
    "",
    { kind: "marked", dataset: "tank/holt/app/db" },
  ],
  [
    "inherited from a marked parent: the parent is named",
    0,
    "tank/holt/app\tlocal\ntank/holt/app/db\tinherited from tank/holt/app\n",
    "",
    { kind: "marked", dataset: "tank/holt/app" },
  ],
  [
    "only a snapshot holds it (the safety snapshot taken while marked)",
    0,
    "tank/holt/app/db\t-\ntank/holt/app/db@restore-safety-1\tlocal\n",
    "",
    { kind: "none" },
  ],
  [
    "the root does not exist: no mark (the snapshot fails on its own)",
    1,
    "",
    "cannot open 'tank/holt/app': dataset does not exist\n",
    { kind: "none" },
  ],
  [
    "zfs failed otherwise: not known, so no snapshot",
    1,
    "",
    "internal error: Input/output error\n",
    { kind: "unknown", why: "internal error: Input/output error" },
  ],
  ["zfs killed", null, "", "", { kind: "unknown", why: "killed by a signal" }],
];

for (const [name, code, stdout, stderr, expected] of cases) {
  test(`judgeRestoreMark: ${name}`, () => {
    assert.deepEqual(judgeRestoreMark(code, stdout, stderr), expected);
  });
}
