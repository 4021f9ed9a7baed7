import { HoltError } from "../../errors.ts";
import { Journal } from "../../store/journal.ts";
import { labStateDir } from "../../store/state-dir.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  openLab,
  parseFlags,
  STATE_FLAG,
  STATE_HELP,
  stateDirFor,
} from "../context.ts";

export const historyCommand: Command = {
  name: "history",
  summary: "List past applies, or show one step by step",
  usage: "holt history [N] [--json]",
  flags: [
    CONFIG_HELP,
    STATE_HELP,
    "--json                 print JSON on stdout",
    "--limit N              how many applies to list (default 20)",
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "history",
      args,
      { ...CONFIG_FLAG, ...STATE_FLAG, json: { type: "boolean" }, limit: { type: "string" } },
      true,
    );
    const lab = await openLab(ctx, values.config);
    const journal = new Journal(labStateDir(stateDirFor(ctx, values["state-dir"]), lab.name));
    const { style } = ctx.output;
    try {
      const wanted = positionals[0];
      if (wanted === undefined) {
        const limit = values.limit === undefined ? 20 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new HoltError(
            "HOLT_E_USAGE",
            `--limit "${values.limit}" is not a positive whole number.`,
          );
        const applies = journal.list(limit);
        if (values.json === true) {
          ctx.output.out(JSON.stringify({ formatVersion: "1", applies }));
          return 0;
        }
        if (applies.length === 0) {
          ctx.output.out("No applies yet.");
          return 0;
        }
        for (const a of applies) {
          const s = a.summary;
          const status =
            a.status === "succeeded"
              ? style.green(a.status)
              : a.status === "running"
                ? style.yellow(a.status)
                : style.red(a.status);
          ctx.output.out(
            `#${a.id}  ${a.startedAt}  ${status}  +${s.add} ~${s.change} -/+${s.replace} -${s.destroy} <${s.release}  by ${a.user}@${a.host}`,
          );
        }
        return 0;
      }
      const id = Number(wanted);
      if (!Number.isInteger(id) || id < 1)
        throw new HoltError(
          "HOLT_E_USAGE",
          `"${wanted}" is not an apply number. Run \`holt history\` to list them.`,
        );
      const entry = journal.get(id);
      if (entry === null)
        throw new HoltError(
          "HOLT_E_HISTORY",
          `There is no apply #${id}. Run \`holt history\` to list them.`,
        );
      if (values.json === true) {
        ctx.output.out(JSON.stringify({ formatVersion: "1", ...entry }));
        return 0;
      }
      const a = entry.apply;
      ctx.output.out(`Apply #${a.id}: ${a.status}`);
      ctx.output.out(`  started  ${a.startedAt} by ${a.user}@${a.host}`);
      ctx.output.out(`  finished ${a.finishedAt ?? "(never: interrupted)"}`);
      ctx.output.out(`  command  ${a.command}`);
      for (const step of entry.steps) {
        if (step.address === null) continue;
        const detail =
          step.detail === null
            ? {}
            : (JSON.parse(step.detail) as { ms?: number; error?: string; reason?: string });
        const extra =
          detail.error ?? detail.reason ?? (detail.ms === undefined ? "" : `${detail.ms} ms`);
        ctx.output.out(
          `  ${step.at}  ${step.kind.padEnd(12)} ${step.action ?? ""} ${step.address}${extra === "" ? "" : `  ${extra}`}`,
        );
      }
      return 0;
    } finally {
      journal.close();
    }
  },
};
