/** `holt backup run`: snapshot each service's state now and prune by policy (for cron or a timer). */
import { runBackups } from "../../backup/run.ts";
import { backupStatus } from "../../backup/status.ts";
import { HoltError } from "../../errors.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  connectionsFor,
  openLab,
  parseFlags,
} from "../context.ts";

export const backupCommand: Command = {
  name: "backup",
  summary: "Snapshot the services' state and prune old snapshots by policy",
  usage: "holt backup run [SERVICE...] [--json] | holt backup status [--json]",
  flags: [
    "run [SERVICE...]       one snapshot per service now (pre/post hooks around it), then prune",
    "status                 per dataset: policy, newest snapshot and its age, the 3-2-1 verdict",
    CONFIG_HELP,
    "--json                 print JSON on stdout (formatVersion 1)",
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "backup",
      args,
      { ...CONFIG_FLAG, json: { type: "boolean" } },
      true,
    );
    const [sub, ...names] = positionals;
    if (sub === "status") {
      if (names.length > 0)
        throw new HoltError("HOLT_E_USAGE", `Unexpected argument "${names[0]}".`);
      const lab = await openLab(ctx, values.config);
      const connections = connectionsFor(lab);
      try {
        const rows = await backupStatus(lab, connections);
        if (values.json === true) {
          ctx.output.out(JSON.stringify({ formatVersion: "1", lab: lab.name, datasets: rows }));
        } else if (rows.length === 0) {
          ctx.output.out("No service has state.");
        } else {
          const style = ctx.output.style;
          for (const r of rows) {
            const newest =
              r.newest === null ? "no snapshot" : `newest ${r.newest.name} (${r.snapshots} kept)`;
            const verdict = r.ok ? style.green(r.verdict) : style.yellow(r.verdict);
            ctx.output.out(`${style.bold(r.dataset)}  ${r.policy ?? "-"}  ${newest}  ${verdict}`);
          }
        }
        return rows.every((r) => r.ok) ? 0 : 2;
      } finally {
        await connections.closeAll();
      }
    }
    if (sub !== "run") {
      throw new HoltError(
        "HOLT_E_USAGE",
        `${sub === undefined ? "Missing subcommand" : `Unknown subcommand "${sub}"`}. Use \`holt backup run [SERVICE...]\` or \`holt backup status\`.`,
      );
    }
    const lab = await openLab(ctx, values.config);
    const unknown = names.filter((n) => lab.services[n] === undefined);
    if (unknown.length > 0) {
      throw new HoltError(
        "HOLT_E_USAGE",
        `${unknown.map((n) => `"${n}"`).join(", ")} ${unknown.length === 1 ? "is not a service" : "are not services"} of this lab. Services: ${Object.keys(lab.services).sort().join(", ") || "(none)"}.`,
      );
    }
    const connections = connectionsFor(lab);
    try {
      // HOLT_TEST_NOW (an ISO time) stands in for the clock, for retention tests.
      const testNow = ctx.env.HOLT_TEST_NOW;
      const results = await runBackups(lab, {
        connections,
        ...(testNow === undefined || testNow === "" ? {} : { now: () => new Date(testNow) }),
        ...(names.length === 0 ? {} : { services: names }),
      });
      if (values.json === true) {
        ctx.output.out(JSON.stringify({ formatVersion: "1", lab: lab.name, services: results }));
      } else if (results.length === 0) {
        ctx.output.out("No service has state to back up.");
      } else {
        const style = ctx.output.style;
        for (const r of results) {
          const made = r.snapshot === null ? style.red("no snapshot") : `snapshot ${r.snapshot}`;
          const pruned = r.pruned.length === 0 ? "" : `, pruned ${r.pruned.length}`;
          ctx.output.out(`${style.bold(r.service)} on ${r.host}: ${made}${pruned}`);
          if (r.error !== null) ctx.output.out(`  ${style.red(r.error)}`);
        }
      }
      return results.some((r) => r.error !== null) ? 1 : 0;
    } finally {
      await connections.closeAll();
    }
  },
};
