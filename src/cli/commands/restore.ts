/**
 * `holt restore SERVICE | --all`: put a service's state back to a snapshot
 * from the local pool, the replica or the offsite repository, verified,
 * with a safety snapshot of what was there. `--all` on a new machine
 * creates the state datasets first (disaster recovery); `holt apply` then
 * starts the services on their restored data.
 */
import {
  executeRestore,
  planRestore,
  type RestorePlan,
  type RestoreRequest,
  type RestoreSource,
} from "../../backup/restore.ts";
import type { ResolvedLab } from "../../config/types.ts";
import type { ProviderStore } from "../../engine/provider.ts";
import { HoltError } from "../../errors.ts";
import type { Connections } from "../../hosts/connect.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import { applyBoundPlan, lockBackups, lockLab } from "../../lab/apply.ts";
import { hostConnections, planGraph, readLabFacts } from "../../lab/plan.ts";
import { type LabSecrets, openLabSecrets } from "../../lab/secrets.ts";
import { compileLab } from "../../model/compile.ts";
import { containerName } from "../../model/container.ts";
import { DATASET_TYPE } from "../../model/dataset.ts";
import { defaultProviders } from "../../providers/index.ts";
import { installedBootUnits, serviceName } from "../../providers/podman/systemd.ts";
import type { BackupCatalog } from "../../store/backup-catalog.ts";
import { formatSize } from "../../util/sizes.ts";
import { manifestStore, openCatalog, repositoryStore } from "../catalog.ts";
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
import { parseSource } from "./backup.ts";
import { restartService } from "./restart.ts";

const USAGE =
  "holt restore SERVICE [--dataset ENTRY]... [--at TIME | --snapshot NAME] [--from local|replica|offsite] [--dry-run] [--yes] | holt restore --all --from offsite [--at TIME]";

export const restoreCommand: Command = {
  name: "restore",
  summary: "Put a service's state back to a snapshot (local, replica or offsite), verified",
  usage: USAGE,
  flags: [
    "--dataset ENTRY        only this state entry (repeatable; default: every backed-up entry)",
    "--snapshot NAME        this snapshot (holt-…, or a restore-safety-… one to undo a restore)",
    "--at TIME              the newest snapshot at or before TIME: 2026-11-26T08:00Z, or 6h / 2d ago (default: the newest)",
    "--from SOURCE          local, replica or offsite (default: the first of them that has it)",
    "--all                  every service with backed-up state (disaster recovery; creates missing datasets)",
    "--dry-run              show what would be restored and stop",
    "-y, --yes              do not ask for confirmation",
    CONFIG_HELP,
    STATE_HELP,
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "restore",
      args,
      {
        ...CONFIG_FLAG,
        ...STATE_FLAG,
        dataset: { type: "string", multiple: true },
        snapshot: { type: "string" },
        at: { type: "string" },
        from: { type: "string" },
        all: { type: "boolean" },
        "dry-run": { type: "boolean" },
        yes: { type: "boolean", short: "y" },
      },
      true,
    );
    const all = values.all === true;
    if (all ? positionals.length > 0 : positionals.length !== 1) {
      throw new HoltError(
        "HOLT_E_USAGE",
        all
          ? "--all restores every service: name none."
          : "holt restore takes one service name (or --all), like `holt restore jellyfin --at 6h`.",
      );
    }
    if (values.snapshot !== undefined && values.at !== undefined) {
      throw new HoltError("HOLT_E_USAGE", "Give --snapshot or --at, not both.");
    }
    if (all && (values.snapshot !== undefined || values.dataset !== undefined)) {
      throw new HoltError(
        "HOLT_E_USAGE",
        "--all goes with --at (or nothing, for the newest copy), not --snapshot or --dataset: each service has its own snapshot names.",
      );
    }
    const from = parseSource(values.from);
    const at = values.at === undefined ? undefined : parseTime(values.at, new Date());
    const lab = await openLab(ctx, values.config);
    const names = all ? servicesToRestore(lab, from) : [positionals[0] ?? ""];
    if (!all && lab.services[names[0] ?? ""] === undefined) {
      throw new HoltError(
        "HOLT_E_USAGE",
        `"${names[0]}" is not a service of this lab. Services: ${Object.keys(lab.services).sort().join(", ") || "(none)"}.`,
      );
    }
    if (names.length === 0) {
      throw new HoltError("HOLT_E_USAGE", "No service has backed-up state to restore.");
    }
    const stateDir = stateDirFor(ctx, values["state-dir"]);
    const secrets = await openLabSecrets(lab, ctx.env);
    const connections = connectionsFor(lab, { ctx, stateDir: values["state-dir"] });
    // Both locks: no backup may snapshot the data half-restored, and no apply may change the
    // service or its datasets while the restore stops, fills and starts them. The backup lock
    // first; neither waits, so two commands can never hold one each and wait for the other.
    const command = `holt restore ${args.join(" ")}`;
    const backupLock = lockBackups(stateDir, lab.name, command);
    let lock: ReturnType<typeof lockLab>;
    try {
      lock = lockLab(stateDir, lab.name, command);
    } catch (error) {
      backupLock.release();
      throw error;
    }
    const catalog = openCatalog(ctx, values["state-dir"], lab.name);
    try {
      const facts = await readLabFacts(lab, connections);
      const options = {
        connections,
        facts,
        manifests: manifestStore(catalog),
        repositories: repositoryStore(catalog),
        secretValue: (name: string) => secrets.value(name),
      };
      const plans: RestorePlan[] = [];
      for (const service of names) {
        const request: RestoreRequest = {
          service,
          ...(values.dataset === undefined ? {} : { entries: values.dataset }),
          ...(values.snapshot === undefined ? {} : { snapshot: values.snapshot }),
          ...(at === undefined ? {} : { at }),
          ...(from === undefined ? {} : { from }),
        };
        plans.push(await planRestore(lab, request, options));
      }
      for (const line of renderRestorePlans(plans, all)) ctx.output.err(line);
      if (values["dry-run"] === true) return 0;
      await confirm(ctx, values.yes === true);
      if (all) {
        await createStateDatasets(
          lab,
          ctx,
          connections,
          secrets,
          stateDir,
          providerStoreFor(ctx, values["state-dir"], lab.name),
        );
      }
      const crashAt = ctx.env.HOLT_TEST_CRASH_AT_STAGE;
      for (const plan of plans) {
        const began = Date.now();
        let result: Awaited<ReturnType<typeof executeRestore>>;
        try {
          result = await executeRestore(lab, plan, options, {
            stopService: (name) => stopService(lab, name, connections),
            startService: (name) => startService(lab, name, connections, secrets, ctx),
            onStep: (line) => ctx.output.err(line),
            ...(crashAt === undefined || crashAt === ""
              ? {}
              : {
                  onStage: (stage: string) => {
                    if (stage === crashAt) process.kill(process.pid, "SIGKILL");
                  },
                }),
          });
        } catch (error) {
          record(catalog, plan, (Date.now() - began) / 1000, (error as Error).message);
          throw error;
        }
        record(catalog, plan, result.seconds, null);
        ctx.output.out(
          `Restored ${plan.service} in ${result.seconds.toFixed(1)} s: ${result.datasets
            .map(
              (d) =>
                `${d.dataset} to ${d.snapshot} from ${d.from} (${d.files} files, ${formatSize(d.bytes)}, checked against ${d.verified === "manifest" ? "the recorded manifest" : "the copy"}; before: @${d.safety})`,
            )
            .join("; ")}`,
        );
      }
      if (all) ctx.output.out("Every dataset is restored. Run `holt apply` to start the services.");
      return 0;
    } finally {
      catalog.close();
      lock.release();
      backupLock.release();
      await connections.closeAll();
    }
  },
};

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An ISO time (UTC unless it says), or a span ago: `30m`, `6h`, `2d`, `1w`. */
export function parseTime(asked: string, now: Date): Date {
  let text = asked;
  const span = /^(\d+)\s*([mhdw])(?:\s+ago)?$/.exec(text.trim());
  if (span !== null) {
    return new Date(now.getTime() - Number(span[1]) * (UNITS[span[2] ?? "h"] ?? 0));
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    text = text.trim().replace(/^(\d{4}-\d{2}-\d{2}) (?=\d)/, "$1T");
    const iso = /[zZ]|[+-]\d{2}:?\d{2}$/.test(text) || !text.includes("T") ? text : `${text}Z`;
    const ms = Date.parse(iso.includes("T") || iso.length > 10 ? iso : `${iso}T23:59:59Z`);
    if (Number.isFinite(ms)) return new Date(ms);
  }
  throw new HoltError(
    "HOLT_E_USAGE",
    `--at "${asked}" is not a time. Use an ISO time like 2026-11-26T08:00Z (UTC unless it says), a date (its end), or a span ago like 30m, 6h, 2d, 1w.`,
  );
}

/** Services with state under a policy (with that source, when one is named). */
function servicesToRestore(lab: ResolvedLab, from: RestoreSource | undefined): string[] {
  return Object.values(lab.services)
    .filter((s) =>
      s.state.some((e) => {
        const policy = e.backup === null ? undefined : lab.backups.policies[e.backup];
        if (policy === undefined) return false;
        if (from === "replica") return policy.replica !== null;
        if (from === "offsite") return policy.offsite !== null;
        return true;
      }),
    )
    .map((s) => s.name)
    .sort();
}

export function renderRestorePlans(plans: readonly RestorePlan[], all: boolean): string[] {
  const lines: string[] = [];
  for (const plan of plans) {
    const first = plan.steps[0];
    lines.push(
      `Restore ${plan.service} on ${plan.host} to ${first?.snapshot ?? "?"} from ${first?.from ?? "?"}:`,
    );
    for (const step of plan.steps) {
      const manifest =
        step.manifest === null
          ? "no manifest recorded here"
          : `${step.manifest.files} files, ${formatSize(step.manifest.bytes)} in its manifest`;
      lines.push(`  ~ ${step.dataset}  ← ${step.where}@${step.snapshot}  (${manifest})`);
      if (step.resuming !== null) {
        lines.push(
          `    finishing a restore that was cut short; its safety snapshot @${step.resuming} stays`,
        );
      }
    }
    if (plan.cutShort !== null) {
      lines.push(
        `  an earlier restore of it was cut short; the state before that one stays as @${plan.cutShort}`,
      );
    }
    lines.push(
      `  ${plan.service} is stopped while its data is replaced, then started and health-checked. What is there now is kept as @${plan.steps.find((s) => s.resuming !== null)?.resuming ?? plan.safety}.`,
    );
  }
  if (all)
    lines.push("Missing state datasets are created first; `holt apply` starts the services after.");
  return lines;
}

async function confirm(ctx: CommandContext, yes: boolean): Promise<void> {
  if (yes) return;
  if (!ctx.output.stdinIsTTY) {
    throw new HoltError(
      "HOLT_E_USAGE",
      "Refusing to restore without confirmation: standard input is not a terminal. Review the plan above (or run with --dry-run), then pass --yes.",
    );
  }
  const answer = await ctx.prompt("Restore? Only 'yes' is accepted: ");
  if (answer.trim() !== "yes") {
    throw new HoltError("HOLT_E_ABORTED", "Restore cancelled. Nothing was changed.");
  }
}

/**
 * Stops the service's container when it has one. A container with a boot
 * unit is stopped through systemd (its unit restarts a container stopped
 * behind its back).
 */
async function stopService(
  lab: ResolvedLab,
  name: string,
  connections: Connections,
): Promise<void> {
  const service = lab.services[name];
  if (service === undefined || service.container === null) return;
  const exec = await connections.execFor(service.host);
  const container = containerName(name);
  if ((await installedBootUnits(exec)).has(container)) {
    const r = await exec.run({
      argv: ["systemctl", "stop", serviceName(container)],
      timeoutMs: 120_000,
    });
    if (r.code !== 0) {
      throw new HoltError(
        "HOLT_E_BACKUP",
        `Could not stop ${serviceName(container)} on ${exec.target} (${r.stderr.trim()}); nothing was changed.`,
      );
    }
    return;
  }
  const exists = await exec.run({ argv: ["podman", "container", "exists", container] });
  if (exists.code !== 0) return;
  const r = await exec.run({ argv: ["podman", "stop", "-t", "30", container], timeoutMs: 60_000 });
  if (r.code !== 0) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      `Could not stop ${container} on ${exec.target} (${r.stderr.trim()}); nothing was changed.`,
    );
  }
}

/** Starts the service again as it was stopped, then health-gates it as `holt restart` does. */
async function startService(
  lab: ResolvedLab,
  name: string,
  connections: Connections,
  secrets: LabSecrets,
  ctx: CommandContext,
): Promise<void> {
  const service = lab.services[name];
  if (service === undefined || service.container === null) return;
  const exec = await connections.execFor(service.host);
  const container = containerName(name);
  if ((await installedBootUnits(exec)).has(container)) {
    await runChecked(exec, { argv: ["systemctl", "start", serviceName(container)] });
  }
  ctx.output.err(`Starting ${name} and waiting for its health check…`);
  const started = await restartService(lab, service, connections, secrets);
  if (!started) ctx.output.err(`${name} has no container yet: \`holt apply\` starts it.`);
}

/**
 * The lab's datasets (only those) created or converged through the engine,
 * as `holt apply` would: on a new machine the state datasets must exist,
 * with their owners and quotas, before their contents come back.
 */
async function createStateDatasets(
  lab: ResolvedLab,
  ctx: CommandContext,
  connections: Connections,
  secrets: LabSecrets,
  stateDir: string,
  store: ProviderStore,
): Promise<void> {
  const facts = await readLabFacts(lab, connections);
  const { graph } = compileLab(lab, facts, { secrets: secrets.digests });
  const datasets = {
    ...graph,
    resources: graph.resources.filter((r) => r.type === DATASET_TYPE),
  };
  // Only the dataset provider reads: the others would plan their own resources' removal.
  const providers = defaultProviders().filter((p) => p.type === DATASET_TYPE);
  const { plan } = await planGraph(datasets, lab.file, hostConnections(lab), {
    connections,
    providers,
    allowDataLoss: false,
    store,
    secrets,
  });
  const creates = plan.changes.filter((c) => c.action === "create");
  if (plan.changes.length === 0) return;
  if (creates.length !== plan.changes.length) {
    throw new HoltError(
      "HOLT_E_USAGE",
      "The lab's datasets differ from the config in more than missing ones. Run `holt plan` and `holt apply` for the datasets first, or restore service by service.",
      {
        details: plan.changes
          .filter((c) => c.action !== "create")
          .map((c) => `${c.action} ${c.address}`),
      },
    );
  }
  ctx.output.err(`Creating ${creates.length} missing datasets…`);
  const result = await applyBoundPlan(plan, datasets, {
    connections,
    providers,
    stateDir,
    allowDataLoss: false,
    command: "holt restore --all",
    secrets,
    store,
  });
  if (!result.ok) {
    throw new HoltError(
      "HOLT_E_BACKUP",
      "Creating the state datasets failed (see above); nothing was restored. Fix it and run the same command again.",
    );
  }
}

function record(
  catalog: BackupCatalog,
  plan: RestorePlan,
  seconds: number,
  error: string | null,
): void {
  for (const step of plan.steps) {
    catalog.record({
      kind: "restore",
      subject: `${step.host}:${step.dataset}`,
      service: step.service,
      snapshot: step.snapshot,
      target: step.where,
      at: new Date().toISOString(),
      ok: error === null,
      bytes: step.manifest?.bytes ?? 0,
      seconds,
      error,
    });
  }
}
