/**
 * The programmatic `apply`: lock, re-check what the plan was bound to (or,
 * for a saved plan, plan afresh and compare), journal, and run. Nothing here
 * prints; progress goes out as events.
 */
import { hostname, userInfo } from "node:os";
import type { ResolvedLab } from "../config/types.ts";
import { type ApplyResult, applyPlan, assertDataLossAllowed } from "../engine/apply.ts";
import type { ApplyEvent, EventSink } from "../engine/events.ts";
import { staleBindings } from "../engine/plan.ts";
import type { Plan } from "../engine/plan-types.ts";
import {
  comparePlans,
  compareSetup,
  describeDifference,
  type PlanDifference,
  type PlanProposal,
  proposalOf,
} from "../engine/proposal.ts";
import type { Provider, ProviderStore } from "../engine/provider.ts";
import type { DesiredGraph } from "../engine/resource.ts";
import { HoltError } from "../errors.ts";
import type { Connections } from "../hosts/connect.ts";
import { Journal } from "../store/journal.ts";
import { acquireLock, type Lock } from "../store/lock.ts";
import { createProviderStore } from "../store/provider-store.ts";
import { labStateDir } from "../store/state-dir.ts";
import { hostConnections, planGraph, planLab } from "./plan.ts";
import type { LabSecrets } from "./secrets.ts";

export interface ApplyLabOptions {
  readonly connections: Connections;
  readonly providers: readonly Provider[];
  readonly stateDir: string;
  readonly allowDataLoss: boolean;
  readonly parallelism?: number;
  readonly command: string;
  readonly onEvent?: EventSink;
  readonly afterStep?: (finished: number) => void;
  /** Values for the containers' secrets and the DNS providers' credentials. */
  readonly secrets?: LabSecrets;
  /** The lab's provider files; default: `<state dir>/<lab>/edge`. */
  readonly store?: ProviderStore;
}

export interface ApplyLabResult extends ApplyResult {
  readonly applyId: number;
}

/** Holds the lab's lock from before planning until the apply has finished. */
export function lockLab(stateDir: string, lab: string, command: string): Lock {
  return acquireLock(labStateDir(stateDir, lab), command);
}

/**
 * The lab's backup lock: one backup run, replication, offsite copy, drill,
 * repository init or restore at a time. Independent of the apply lock.
 */
export function lockBackups(stateDir: string, lab: string, command: string): Lock {
  return acquireLock(labStateDir(stateDir, lab), command, "backup");
}

/**
 * Applies `plan` after reading the systems again and checking that every
 * fingerprint still matches (a binding plan). The caller holds the lock.
 */
export async function applyBoundPlan(
  plan: Plan,
  graph: DesiredGraph,
  options: ApplyLabOptions,
): Promise<ApplyLabResult> {
  assertDataLossAllowed(plan, options.allowDataLoss);
  const store = options.store ?? createProviderStore(labStateDir(options.stateDir, plan.lab));
  const fresh = await planGraph(graph, plan.configFile, plan.hosts, {
    connections: options.connections,
    providers: options.providers,
    allowDataLoss: options.allowDataLoss,
    store,
    ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
  });
  const stale = staleBindings(plan, fresh.plan);
  if (stale.length > 0) {
    throw new HoltError(
      "HOLT_E_PLAN_STALE",
      `The plan no longer matches the real systems: ${stale.length} ${stale.length === 1 ? "resource has" : "resources have"} changed since it was made. Nothing was changed. Run \`holt plan\` again.`,
      {
        details: stale.map(
          (s) =>
            `${s.address}: ${s.was === null ? "did not exist" : "existed"} at plan time, ${s.now === null ? "is gone now" : s.was === null ? "exists now" : "is different now"}`,
        ),
      },
    );
  }
  return runPlan(plan, graph, { ...options, store });
}

/**
 * Refuses a saved plan that was made for another lab or config file, or
 * that reaches a host otherwise than the config does: all known before any
 * host is contacted.
 */
export function checkSavedPlanSetup(
  file: string,
  saved: PlanProposal,
  lab: ResolvedLab,
  allowDataLoss: boolean,
): void {
  const difference = compareSetup(saved, {
    lab: lab.name,
    configFile: lab.file,
    hosts: hostConnections(lab),
  });
  if (difference !== null) throw savedPlanRefused(file, difference, allowDataLoss);
}

/**
 * Applies a saved plan as a proposal: plans afresh from the lab's config and
 * the systems (with the command line's `allowDataLoss`, the config's
 * connections), and runs the fresh plan's steps only when that plan proposes
 * exactly what the saved one does. The file's own steps are never run. The
 * caller holds the lock.
 */
export async function applySavedPlan(
  file: string,
  saved: PlanProposal,
  lab: ResolvedLab,
  options: Omit<ApplyLabOptions, "secrets"> & {
    readonly secrets?: LabSecrets | Promise<LabSecrets>;
  },
): Promise<ApplyLabResult> {
  checkSavedPlanSetup(file, saved, lab, options.allowDataLoss);
  const store = options.store ?? createProviderStore(labStateDir(options.stateDir, lab.name));
  const { plan, graph } = await planLab(lab, { ...options, store });
  const difference = comparePlans(saved, proposalOf(plan, graph.hostSettings));
  if (difference !== null) throw savedPlanRefused(file, difference, options.allowDataLoss);
  assertDataLossAllowed(plan, options.allowDataLoss);
  const { secrets: secretsReady, ...rest } = options;
  const secrets = await secretsReady;
  return runPlan(plan, graph, { ...rest, store, ...(secrets === undefined ? {} : { secrets }) });
}

/** The error for a saved plan that differs from a fresh one, naming the first difference. */
export function savedPlanRefused(
  file: string,
  difference: PlanDifference,
  allowDataLoss: boolean,
): HoltError {
  const what = describeDifference(difference);
  if (difference.kind === "lab" || difference.kind === "config-file") {
    return new HoltError(
      "HOLT_E_PLAN_FILE",
      `${file} was made for another lab or config file: ${what}. Nothing was changed. Apply it with the config it was made from (\`--config FILE\`), or make the plan again with this one.`,
    );
  }
  const flip = difference.kind === "action" ? `${difference.saved}→${difference.fresh}` : "";
  const hint =
    flip === "delete→release" && !allowDataLoss
      ? [
          "Whether a step destroys data is decided by the command line, not the plan file: to destroy it, pass --allow-data-loss to holt apply as well.",
        ]
      : flip === "release→delete" && allowDataLoss
        ? [
            "The plan was saved without --allow-data-loss, so it releases: apply it without the flag, or save the plan again with it to destroy.",
          ]
        : [];
  return new HoltError(
    "HOLT_E_PLAN_STALE",
    `The saved plan ${file} does not match a fresh plan from the config and the systems: ${what}. Nothing was changed. Make the plan again with \`holt plan --out ${file}\`, review it, and apply that.`,
    { details: hint },
  );
}

/** Journals and runs a plan that has been checked. The caller holds the lock. */
async function runPlan(
  plan: Plan,
  graph: DesiredGraph,
  options: ApplyLabOptions & { readonly store: ProviderStore },
): Promise<ApplyLabResult> {
  const { store, secrets } = options;
  const journal = new Journal(labStateDir(options.stateDir, plan.lab));
  try {
    journal.markInterrupted();
    const applyId = journal.begin({
      command: options.command,
      user: userInfo().username,
      host: hostname(),
      summary: plan.summary,
      at: new Date().toISOString(),
    });
    const onEvent = (event: ApplyEvent): void => {
      journal.record(applyId, event);
      options.onEvent?.(event);
    };
    const result = await applyPlan(plan, {
      providers: options.providers,
      execFor: (host) => options.connections.execFor(host),
      allowDataLoss: options.allowDataLoss,
      ...(options.parallelism === undefined ? {} : { parallelism: options.parallelism }),
      onEvent,
      ...(options.afterStep === undefined ? {} : { afterStep: options.afterStep }),
      ...(secrets === undefined ? {} : { secretValue: (name: string) => secrets.value(name) }),
      store,
      ...(graph.hostSettings === undefined ? {} : { hostSettings: graph.hostSettings }),
    });
    journal.finish(applyId, result.ok, new Date().toISOString());
    return { ...result, applyId };
  } finally {
    journal.close();
  }
}
