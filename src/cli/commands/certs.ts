/** `holt certs`: the lab's ACME certificates; `holt certs renew NAME` renews one now. */

import { summarize } from "../../engine/plan-types.ts";
import { HoltError } from "../../errors.ts";
import { applyBoundPlan, lockLab } from "../../lab/apply.ts";
import { labCertificates } from "../../lab/edge-status.ts";
import { planLab } from "../../lab/plan.ts";
import { openLabSecrets } from "../../lab/secrets.ts";
import { CERTIFICATE_TYPE } from "../../model/certificate.ts";
import { requestRenewal } from "../../providers/caddy/certificate-provider.ts";
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
  stateDirFor,
} from "../context.ts";
import type { Style } from "../output.ts";
import { createApplyRenderer } from "../render-apply.ts";

export const certsCommand: Command = {
  name: "certs",
  summary: "List certificates with expiry, issuer and next renewal; renew one now",
  usage: "holt certs [--json] | holt certs renew NAME",
  flags: [
    "renew NAME             issue NAME again now and load it into every Caddy that serves it",
    CONFIG_HELP,
    STATE_HELP,
    "--json                 print JSON on stdout (formatVersion 1)",
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "certs",
      args,
      { ...CONFIG_FLAG, ...STATE_FLAG, json: { type: "boolean" } },
      true,
    );
    const [sub, name, ...extra] = positionals;
    if (sub !== undefined && sub !== "renew") {
      throw new HoltError(
        "HOLT_E_USAGE",
        `Unknown subcommand "${sub}". Use \`holt certs\` or \`holt certs renew NAME\`.`,
      );
    }
    if (sub === "renew" && name === undefined) {
      throw new HoltError(
        "HOLT_E_USAGE",
        "`holt certs renew` needs the certificate's NAME (see `holt certs`).",
      );
    }
    if (extra.length > 0) throw new HoltError("HOLT_E_USAGE", `Unexpected argument "${extra[0]}".`);
    const lab = await openLab(ctx, values.config);
    if (lab.acme === null) {
      ctx.output.out(
        "This lab has no `acme` settings: its routes use Caddy's local CA. See docs/dns-and-certificates.md.",
      );
      return 0;
    }
    const store = providerStoreFor(ctx, values["state-dir"], lab.name);
    const connections = connectionsFor(lab);
    try {
      const secrets = await openLabSecrets(lab, ctx.env);
      const options = { connections, providers: defaultProviders(), secrets, store };
      const certs = await labCertificates(lab, options);
      if (sub === undefined) {
        if (values.json === true) {
          ctx.output.out(
            JSON.stringify({ formatVersion: "1", lab: lab.name, certificates: certs }),
          );
        } else {
          for (const line of renderCerts(certs, ctx.output.style)) ctx.output.out(line);
        }
        return 0;
      }
      const wanted = certs.find((c) => c.name === name);
      if (wanted === undefined) {
        throw new HoltError(
          "HOLT_E_USAGE",
          `"${name}" is not a certificate of this lab. Certificates: ${certs.map((c) => c.name).join(", ") || "(none)"}.`,
        );
      }
      const stateDir = stateDirFor(ctx, values["state-dir"]);
      const commandLine = ["holt", "certs", ...args].join(" ");
      const lock = lockLab(stateDir, lab.name, commandLine);
      try {
        await requestRenewal(store, wanted.name);
        const { plan, graph } = await planLab(lab, { ...options, allowDataLoss: false });
        const changes = plan.changes.filter(
          (c) => c.type === CERTIFICATE_TYPE && c.name === wanted.name,
        );
        const result = await applyBoundPlan(
          { ...plan, changes, summary: summarize(changes) },
          graph,
          {
            ...options,
            stateDir,
            allowDataLoss: false,
            command: commandLine,
            onEvent: createApplyRenderer(ctx.output),
          },
        );
        return result.ok ? 0 : 1;
      } finally {
        lock.release();
      }
    } finally {
      await connections.closeAll();
    }
  },
};

function renderCerts(certs: Awaited<ReturnType<typeof labCertificates>>, style: Style): string[] {
  if (certs.length === 0) return ["No service has a hostname that needs a certificate yet."];
  const lines: string[] = [];
  for (const c of certs) {
    lines.push(
      style.bold(c.name) + (c.names.length > 1 ? style.dim(`  (${c.names.join(", ")})`) : ""),
    );
    if (c.notAfter === null) {
      lines.push(`  ${style.yellow("not issued yet: run holt apply")}`);
    } else {
      lines.push(`  issuer   ${c.issuer ?? ""}`);
      lines.push(`  expires  ${c.notAfter}`);
      lines.push(
        `  renews   ${c.due ? style.yellow(`due now (since ${c.renewAt})`) : (c.renewAt ?? "")}`,
      );
    }
    const hosts = c.hosts.map((h) =>
      h.loaded ? h.host : `${h.host} ${style.yellow("(not loaded: run holt apply)")}`,
    );
    lines.push(`  served   on ${hosts.join(", ")}`);
  }
  return lines;
}
