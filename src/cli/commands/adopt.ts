import { HoltError } from "../../errors.ts";
import { lockLab } from "../../lab/apply.ts";
import { planLab } from "../../lab/plan.ts";
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
  stateDirFor,
} from "../context.ts";

export const adoptCommand: Command = {
  name: "adopt",
  summary: "Take over an existing resource that the config declares",
  usage: "holt adopt ADDRESS [--yes]",
  flags: [CONFIG_HELP, STATE_HELP, "-y, --yes              do not ask for confirmation"],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "adopt",
      args,
      { ...CONFIG_FLAG, ...STATE_FLAG, yes: { type: "boolean", short: "y" } },
      true,
    );
    const address = positionals[0];
    if (address === undefined || positionals.length > 1) {
      throw new HoltError(
        "HOLT_E_USAGE",
        "holt adopt takes one address, as `holt plan` prints it, e.g. `holt adopt zfs.dataset:odroid/tank/media`.",
      );
    }
    const lab = await openLab(ctx, values.config);
    const secrets = await openLabSecrets(lab, ctx.env);
    const connections = connectionsFor(lab);
    const providers = defaultProviders();
    const lock = lockLab(stateDirFor(ctx, values["state-dir"]), lab.name, `holt adopt ${address}`);
    try {
      const store = providerStoreFor(ctx, values["state-dir"], lab.name);
      const { plan, graph } = await planLab(lab, { connections, providers, secrets, store });
      const target = plan.unmanaged.find((u) => u.address === address);
      if (target === undefined) {
        const known = plan.unmanaged.map((u) => u.address);
        const why = plan.changes.some((c) => c.address === address && c.action === "create")
          ? "it does not exist yet (holt apply creates it)"
          : known.length > 0
            ? `it is not an unmanaged resource of this lab. Adoptable now: ${known.join(", ")}`
            : "it is not an unmanaged resource of this lab (it may already be managed, or not declared in the config)";
        throw new HoltError("HOLT_E_ADOPT", `Cannot adopt ${address}: ${why}.`);
      }
      ctx.output.err(`Adopting ${target.noun} ${target.name} on ${target.host}.`);
      for (const f of target.fields)
        ctx.output.err(`    ${f.path}: ${f.before ?? "(inherited)"} → ${f.after ?? "(inherit)"}`);
      if (values.yes !== true) {
        if (!ctx.output.stdinIsTTY)
          throw new HoltError(
            "HOLT_E_USAGE",
            "Refusing to adopt without confirmation: pass --yes.",
          );
        const answer = await ctx.prompt("Adopt it? Only 'yes' is accepted: ");
        if (answer.trim() !== "yes")
          throw new HoltError("HOLT_E_ABORTED", "Adopt cancelled. Nothing was changed.");
      }
      const provider = providers.find((p) => p.type === target.resource.type);
      if (provider === undefined)
        throw new HoltError("HOLT_E_INTERNAL", `No provider for ${target.resource.type}.`);
      await provider.adopt(
        {
          host: target.host,
          exec: await connections.execFor(target.host),
          lab: lab.name,
          secretValue: (name) => secrets.value(name),
          store,
          ...(settingsFor(graph, target.host, target.resource.type) ?? {}),
        },
        target.resource,
        target.observed,
      );
      ctx.output.err(
        `Adopted ${address}. holt now manages it; removing it from the config releases it.`,
      );
      return 0;
    } finally {
      lock.release();
      await connections.closeAll();
    }
  },
};

function settingsFor(
  graph: { hostSettings?: Readonly<Record<string, Readonly<Record<string, unknown>>>> },
  host: string,
  type: string,
): { settings: unknown } | undefined {
  const settings = graph.hostSettings?.[host]?.[type];
  return settings === undefined ? undefined : { settings };
}
