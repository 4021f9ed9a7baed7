/** `holt dns`: the DNS record sets holt keeps for the lab, and any drift. */
import { labDnsRecords } from "../../lab/edge-status.ts";
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
import type { Style } from "../output.ts";

export const dnsCommand: Command = {
  name: "dns",
  summary: "List the DNS records holt manages, with drift and conflicts",
  usage: "holt dns [--json]",
  flags: [CONFIG_HELP, STATE_HELP, "--json                 print JSON on stdout (formatVersion 1)"],
  async run(args, ctx) {
    const { values } = parseFlags(
      "dns",
      args,
      { ...CONFIG_FLAG, ...STATE_FLAG, json: { type: "boolean" } },
      false,
    );
    const lab = await openLab(ctx, values.config);
    if (lab.dns === null) {
      ctx.output.out(
        "This lab has no DNS zones. Add them under `dns.zones` in holt.config.ts (docs/dns-and-certificates.md).",
      );
      return 0;
    }
    const connections = connectionsFor(lab);
    try {
      const records = await labDnsRecords(lab, {
        connections,
        providers: defaultProviders(),
        secrets: await openLabSecrets(lab, ctx.env),
        store: providerStoreFor(ctx, values["state-dir"], lab.name),
      });
      if (values.json === true) {
        ctx.output.out(JSON.stringify({ formatVersion: "1", lab: lab.name, records }));
      } else {
        for (const line of renderRecords(records, ctx.output.style)) ctx.output.out(line);
      }
      return records.some((r) => r.status !== "in sync") ? 2 : 0;
    } finally {
      await connections.closeAll();
    }
  },
};

function renderRecords(records: Awaited<ReturnType<typeof labDnsRecords>>, style: Style): string[] {
  if (records.length === 0) return ["No service has a hostname with a DNS record yet."];
  const width = Math.max(...records.map((r) => `${r.name} ${r.type}`.length));
  const lines: string[] = [];
  for (const r of records) {
    const label = `${r.name} ${r.type}`.padEnd(width);
    const value = (r.have ?? r.want).join(", ");
    const status =
      r.status === "in sync"
        ? style.green(r.status)
        : r.status === "conflict"
          ? style.red("conflict: not holt's, left alone")
          : r.status === "stale"
            ? style.yellow("no longer wanted: apply removes it")
            : style.yellow(
                r.status === "missing" ? "missing: apply creates it" : "drift: apply corrects it",
              );
    const where = `${r.zone}${r.view === "internal" ? " (internal)" : ""}`;
    lines.push(`${style.bold(label)}  ${value}  ${style.dim(where)}  ${status}`);
    for (const d of r.drift) lines.push(`    ${d}`);
  }
  return lines;
}
