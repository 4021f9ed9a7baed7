import { backupGaps } from "../../backup/status.ts";
import { cleartextWarnings } from "../../config/cleartext.ts";
import { proposalOf } from "../../engine/proposal.ts";
import { shellQuote } from "../../hosts/shell-quote.ts";
import { planLab } from "../../lab/plan.ts";
import { writeSavedPlan } from "../../lab/saved-plan.ts";
import { openLabSecrets } from "../../lab/secrets.ts";
import { defaultProviders } from "../../providers/index.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  connectionsFor,
  openLab,
  parseFlags,
  providerStoreFor,
  STATE_FLAG,
  STATE_HELP,
} from "../context.ts";
import { planJson, renderPlan } from "../render-plan.ts";

export const planCommand: Command = {
  name: "plan",
  summary: "Show what apply would change, resource by resource",
  usage: "holt plan [--out FILE] [--json] [--detailed] [--detailed-exitcode]",
  flags: [
    CONFIG_HELP,
    STATE_HELP,
    "--out FILE             save the plan; `holt apply FILE` applies it if nothing changed",
    "--json                 print the plan as JSON (formatVersion 1) on stdout",
    "--detailed             show every field of created resources",
    "--detailed-exitcode    exit 0 for no changes, 2 for changes, 1 for errors",
    "--allow-data-loss      plan to destroy removed datasets instead of releasing them",
  ],
  async run(args, ctx) {
    const { values } = parseFlags(
      "plan",
      args,
      {
        ...CONFIG_FLAG,
        ...STATE_FLAG,
        out: { type: "string" },
        json: { type: "boolean" },
        detailed: { type: "boolean" },
        "detailed-exitcode": { type: "boolean" },
        "allow-data-loss": { type: "boolean" },
      },
      false,
    );
    const lab = await openLab(ctx, values.config);
    // Read while planLab reads the hosts; awaited there (and below for apply).
    const secrets = openLabSecrets(lab, ctx.env);
    secrets.catch(() => {}); // awaited later; a failure surfaces there
    const connections = connectionsFor(lab);
    try {
      const { plan, graph } = await planLab(lab, {
        connections,
        providers: defaultProviders(),
        secrets,
        allowDataLoss: values["allow-data-loss"] === true,
        store: providerStoreFor(ctx, values["state-dir"], lab.name),
      });
      const human = renderPlan(plan, ctx.output.style, { detailed: values.detailed === true });
      if (values.json === true) {
        ctx.output.out(JSON.stringify(planJson(plan)));
        for (const line of human) ctx.output.err(line);
      } else {
        for (const line of human) ctx.output.out(line);
      }
      // On stderr in both modes: a note about the config, not part of the plan.
      const gaps = backupGaps(lab);
      if (gaps.short.length > 0) {
        const shown = gaps.short.slice(0, 8).join(", ") + (gaps.short.length > 8 ? ", …" : "");
        ctx.output.err(
          ctx.output.style.yellow(
            `Backups: ${gaps.short.length} state ${gaps.short.length === 1 ? "dataset is" : "datasets are"} short of 3-2-1 (three copies, two machines, one offsite): ${shown}. Give their policy a replica and an offsite repository (docs/backups.md).`,
          ),
        );
      }
      if (gaps.optedOut.length > 0) {
        ctx.output.err(`Not backed up, by choice (backup: false): ${gaps.optedOut.join(", ")}.`);
      }
      for (const warning of cleartextWarnings(lab)) {
        ctx.output.err(ctx.output.style.yellow(`Warning: ${warning}`));
      }
      if (values.out !== undefined) {
        writeSavedPlan(values.out, {
          ...proposalOf(plan, graph.hostSettings),
          createdAt: plan.createdAt,
        });
        // The same config, state folder and data-loss choice, or the fresh plan cannot match.
        const applyLine = shellQuote([
          "holt",
          "apply",
          values.out,
          ...(values.config === undefined ? [] : ["--config", values.config]),
          ...(values["state-dir"] === undefined ? [] : ["--state-dir", values["state-dir"]]),
          ...(values["allow-data-loss"] === true ? ["--allow-data-loss"] : []),
        ]);
        ctx.output.err(
          `Saved the plan to ${values.out}. Apply it with: ${applyLine} (it runs only if a fresh plan is the same)`,
        );
      }
      return values["detailed-exitcode"] === true && plan.changes.length > 0 ? 2 : 0;
    } finally {
      await connections.closeAll();
    }
  },
};
