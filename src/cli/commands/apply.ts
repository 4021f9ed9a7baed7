import type { ResolvedLab } from "../../config/types.ts";
import { assertDataLossAllowed } from "../../engine/apply.ts";
import { HoltError, isHoltError } from "../../errors.ts";
import { applyBoundPlan, applySavedPlan, checkSavedPlanSetup, lockLab } from "../../lab/apply.ts";
import { planLab } from "../../lab/plan.ts";
import { readSavedPlan } from "../../lab/saved-plan.ts";
import { openLabSecrets } from "../../lab/secrets.ts";
import { defaultProviders } from "../../providers/index.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  type CommandContext,
  connectionsFor,
  openLab,
  parseFlags,
  providerStoreFor,
  STATE_FLAG,
  STATE_HELP,
  stateDirFor,
} from "../context.ts";
import { createApplyRenderer } from "../render-apply.ts";
import { renderPlan } from "../render-plan.ts";

/** Test hook: SIGKILL ourselves after the Nth finished step (crash-safety tests). */
function crashHook(env: NodeJS.ProcessEnv): ((finished: number) => void) | undefined {
  const at = Number(env.HOLT_TEST_CRASH_AFTER_STEP);
  if (!Number.isInteger(at) || at <= 0) return undefined;
  return (finished) => {
    if (finished === at) process.kill(process.pid, "SIGKILL");
  };
}

/**
 * The config a saved plan is checked against, found as `holt plan` finds it.
 * The path the plan records is never followed (the config is code holt runs),
 * so a plan applied from another folder needs `--config`: said so here, where
 * the plain "not found" message would suggest `holt init`.
 */
async function openLabForPlan(
  ctx: CommandContext,
  configFlag: string | undefined,
  planFile: string,
): Promise<ResolvedLab> {
  try {
    return await openLab(ctx, configFlag);
  } catch (error) {
    if (
      configFlag !== undefined ||
      !isHoltError(error) ||
      error.code !== "HOLT_E_CONFIG_NOT_FOUND"
    ) {
      throw error;
    }
    throw new HoltError(
      "HOLT_E_CONFIG_NOT_FOUND",
      `No holt.config.ts in ${ctx.cwd}. \`holt apply ${planFile}\` checks the plan against a fresh one from its config, found as \`holt plan\` finds it: run it in the folder of the config the plan was made from, or pass --config FILE.`,
      { cause: error },
    );
  }
}

async function confirm(ctx: CommandContext, yes: boolean): Promise<void> {
  if (yes) return;
  if (!ctx.output.stdinIsTTY) {
    throw new HoltError(
      "HOLT_E_USAGE",
      "Refusing to apply without confirmation: standard input is not a terminal. Review the plan, then pass --yes (or save it with `holt plan --out FILE` and run `holt apply FILE`).",
    );
  }
  const answer = await ctx.prompt("Apply these changes? Only 'yes' is accepted: ");
  if (answer.trim() !== "yes")
    throw new HoltError("HOLT_E_ABORTED", "Apply cancelled. Nothing was changed.");
}

export const applyCommand: Command = {
  name: "apply",
  summary: "Converge the real systems to the config (or apply a saved plan)",
  usage: "holt apply [PLANFILE] [--yes] [--allow-data-loss]",
  flags: [
    CONFIG_HELP,
    STATE_HELP,
    "PLANFILE               a plan saved with `holt plan --out`: applied only if a fresh plan equals it",
    "-y, --yes              do not ask for confirmation",
    "--allow-data-loss      destroy removed datasets (after a safety snapshot) instead of releasing them",
    "--parallelism N        at most N steps at once (default 4)",
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "apply",
      args,
      {
        ...CONFIG_FLAG,
        ...STATE_FLAG,
        yes: { type: "boolean", short: "y" },
        "allow-data-loss": { type: "boolean" },
        parallelism: { type: "string" },
      },
      true,
    );
    if (positionals.length > 1)
      throw new HoltError(
        "HOLT_E_USAGE",
        "holt apply takes at most one plan file. See `holt apply --help`.",
      );
    const parallelism = values.parallelism === undefined ? undefined : Number(values.parallelism);
    if (
      parallelism !== undefined &&
      (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > 64)
    ) {
      throw new HoltError(
        "HOLT_E_USAGE",
        `--parallelism "${values.parallelism}" is not a whole number from 1 to 64.`,
      );
    }
    const allowDataLoss = values["allow-data-loss"] === true;
    const stateDir = stateDirFor(ctx, values["state-dir"]);
    const providers = defaultProviders();
    const commandLine = ["holt", "apply", ...args].join(" ");
    const planFile = positionals[0];
    const common = {
      providers,
      stateDir,
      allowDataLoss,
      command: commandLine,
      onEvent: createApplyRenderer(ctx.output),
      ...(parallelism === undefined ? {} : { parallelism }),
      ...(crashHook(ctx.env) === undefined ? {} : { afterStep: crashHook(ctx.env) }),
    };

    if (planFile !== undefined) {
      // A proposal, not a program: the config (as `holt plan` finds it) and a fresh read
      // decide what runs; the file only has to agree with them.
      const saved = readSavedPlan(planFile);
      const lab = await openLabForPlan(ctx, values.config, planFile);
      checkSavedPlanSetup(planFile, saved, lab, allowDataLoss);
      if (saved.changes.length === 0) {
        ctx.output.err("The saved plan has no changes. Nothing to do.");
        return 0;
      }
      const secrets = openLabSecrets(lab, ctx.env);
      secrets.catch(() => {}); // awaited in applySavedPlan; a failure surfaces there
      const connections = connectionsFor(lab);
      const lock = lockLab(stateDir, lab.name, commandLine);
      try {
        const result = await applySavedPlan(planFile, saved, lab, {
          ...common,
          connections,
          secrets,
          store: providerStoreFor(ctx, values["state-dir"], lab.name),
        });
        return result.ok ? 0 : 1;
      } finally {
        lock.release();
        await connections.closeAll();
      }
    }

    const lab = await openLab(ctx, values.config);
    // Read while planLab reads the hosts; awaited there (and below for apply).
    const secrets = openLabSecrets(lab, ctx.env);
    secrets.catch(() => {}); // awaited later; a failure surfaces there
    const connections = connectionsFor(lab);
    const lock = lockLab(stateDir, lab.name, commandLine);
    try {
      const { plan, graph } = await planLab(lab, {
        connections,
        providers,
        allowDataLoss,
        secrets,
        store: providerStoreFor(ctx, values["state-dir"], lab.name),
      });
      for (const line of renderPlan(plan, ctx.output.style)) ctx.output.err(line);
      if (plan.changes.length === 0) return 0;
      assertDataLossAllowed(plan, allowDataLoss);
      await confirm(ctx, values.yes === true);
      const result = await applyBoundPlan(plan, graph, {
        ...common,
        connections,
        secrets: await secrets,
      });
      return result.ok ? 0 : 1;
    } finally {
      lock.release();
      await connections.closeAll();
    }
  },
};
