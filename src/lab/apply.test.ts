/**
 * savedPlanRefused: which code a saved-plan difference is refused with, and
 * the hint about --allow-data-loss when the command line, not the file, made
 * the difference.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { PlanDifference } from "../engine/proposal.ts";
import { savedPlanRefused } from "./apply.ts";

const change = {
  address: "zfs.dataset:nas/tank/scratch",
  noun: "dataset",
  name: "tank/scratch",
  host: "nas",
};

const ROWS: readonly {
  name: string;
  difference: PlanDifference;
  allowDataLoss: boolean;
  code: string;
  details: readonly string[];
}[] = [
  {
    name: "another config file is the wrong file",
    difference: { kind: "config-file", saved: "/a/holt.config.ts", fresh: "/b/holt.config.ts" },
    allowDataLoss: false,
    code: "HOLT_E_PLAN_FILE",
    details: [],
  },
  {
    name: "a delete saved with --allow-data-loss, applied without it",
    difference: { kind: "action", change, saved: "delete", fresh: "release" },
    allowDataLoss: false,
    code: "HOLT_E_PLAN_STALE",
    details: [
      "Whether a step destroys data is decided by the command line, not the plan file: to destroy it, pass --allow-data-loss to holt apply as well.",
    ],
  },
  {
    name: "a release saved without --allow-data-loss, applied with it",
    difference: { kind: "action", change, saved: "release", fresh: "delete" },
    allowDataLoss: true,
    code: "HOLT_E_PLAN_STALE",
    details: [
      "The plan was saved without --allow-data-loss, so it releases: apply it without the flag, or save the plan again with it to destroy.",
    ],
  },
  {
    name: "a delete a fresh plan does not make even with the flag: the flag is not the cause, no hint",
    difference: { kind: "action", change, saved: "delete", fresh: "release" },
    allowDataLoss: true,
    code: "HOLT_E_PLAN_STALE",
    details: [],
  },
  {
    name: "another action altogether",
    difference: { kind: "action", change, saved: "update", fresh: "replace" },
    allowDataLoss: false,
    code: "HOLT_E_PLAN_STALE",
    details: [],
  },
];

for (const row of ROWS) {
  test(`savedPlanRefused: ${row.name}`, () => {
    const error = savedPlanRefused("plan.json", row.difference, row.allowDataLoss);
    assert.equal(error.code, row.code);
    assert.deepEqual(error.details, row.details);
    assert.match(error.message, /Nothing was changed\./);
  });
}
